"""Email routes (included by codes/urls.py): seed 003's POST /api/email/send and the outbox."""

from django.urls import include, path, re_path

from codes.views_email import EmailMessageViewSet, EmailSendView
from core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("email/messages", EmailMessageViewSet, basename="email-message")

urlpatterns = [
    re_path(r"^email/send/?$", EmailSendView.as_view(), name="email-send"),
    path("", include(router.urls)),
]
