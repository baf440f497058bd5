from django.urls import include, path, re_path
from rest_framework.routers import SimpleRouter

from core.api.routers import OptionalSlashRouter
from webhook.views import WebhookDeliveryViewSet, WebhookViewSet
from webhook.views_inbound import InboundEventViewSet, MakeWebhookView

router = SimpleRouter(trailing_slash="/?")
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register(
    r"webhooks/(?P<webhook_pk>\d+)/deliveries",
    WebhookDeliveryViewSet,
    basename="webhook-delivery",
)
# Inbound: seed 003's paths, with or without a trailing slash.
inbound_router = OptionalSlashRouter()
inbound_router.register(
    "integrations/webhooks/processed", InboundEventViewSet, basename="inbound-event"
)

urlpatterns = [
    re_path(r"^integrations/make/webhook/?$", MakeWebhookView.as_view(), name="make-webhook"),
    path("", include(router.urls)),
    path("", include(inbound_router.urls)),
]
