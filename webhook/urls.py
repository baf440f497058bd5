from django.urls import include, path
from rest_framework.routers import SimpleRouter

from webhook.views import WebhookDeliveryViewSet, WebhookViewSet

router = SimpleRouter(trailing_slash="/?")
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register(
    r"webhooks/(?P<webhook_pk>\d+)/deliveries",
    WebhookDeliveryViewSet,
    basename="webhook-delivery",
)

urlpatterns = [path("", include(router.urls))]
