"""Email API: queue an email (seed 003's POST /api/email/send) and read the outbox."""

import re

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from codes.filters_email import EmailMessageFilter
from codes.models import EmailMessage
from codes.serializers_email import (
    EmailMessageSerializer,
    EmailQueuedSerializer,
    EmailSendSerializer,
)
from codes.services import email as email_service
from codes.services import email_delivery
from core.api.serializers import ErrorSerializer
from core.models import Role

IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description=(
        "Up to 255 printable characters. A repeated request with the same key returns the "
        "first one's email and job (200, `duplicate: true`) instead of sending again."
    ),
)


def idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key", "")
    if key and not IDEMPOTENCY_KEY_RE.match(key):
        raise ValidationError(
            {"Idempotency-Key": ["Up to 255 printable ASCII characters, no spaces."]}
        )
    return key


class EmailSendView(APIView):
    """Queue an email; a background job sends it (seed 003: `email.send`)."""

    throttle_scope = "email"
    required_role = Role.OPERATOR

    @extend_schema(
        summary="Send an email (as a background job)",
        description=(
            "Give `to`, `subject` and `text` and/or `html`, or a stored `template` with its "
            "`context`. Answers 202 with the email and its `job_id`; temporary SMTP failures "
            "are retried with backoff, permanent ones fail at once (see `status`, `error`)."
        ),
        parameters=[IDEMPOTENCY_HEADER],
        request=EmailSendSerializer,
        responses={202: EmailQueuedSerializer, 200: EmailQueuedSerializer, 409: ErrorSerializer},
    )
    def post(self, request):
        key = idempotency_key(request)
        serializer = EmailSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        queued = email_service.queue_email(
            to=data["to"],
            cc=data.get("cc", []),
            bcc=data.get("bcc", []),
            reply_to=data.get("reply_to", []),
            from_email=data.get("from_email", ""),
            subject=data.get("subject", ""),
            text=data.get("text", ""),
            html=data.get("html", ""),
            template=data.get("template"),
            context=data.get("context"),
            reference=data.get("reference", ""),
            idempotency_key=key,
            owner=request.user,
        )
        message = queued.message
        message.duplicate = not queued.created
        return Response(
            EmailQueuedSerializer(message).data,
            status=status.HTTP_202_ACCEPTED if queued.created else status.HTTP_200_OK,
        )


@extend_schema_view(
    list=extend_schema(summary="The outbox: every email, newest first"),
    retrieve=extend_schema(summary="One email with its attempts"),
)
class EmailMessageViewSet(viewsets.ReadOnlyModelViewSet):
    """Every email the platform sent or tried to send: status, attempts, server replies."""

    queryset = EmailMessage.objects.select_related("template")
    serializer_class = EmailMessageSerializer
    filterset_class = EmailMessageFilter
    search_fields = ["subject", "reference", "message_id"]
    ordering_fields = ["created_at", "sent_at", "status", "attempts"]
    ordering = ["-created_at", "-id"]
    # Recipients and bodies are customers' data: operators only.
    required_role = Role.OPERATOR
    throttle_scopes = {"resend": "email"}

    @extend_schema(
        summary="Send a failed email again (fresh attempts budget)",
        request=None,
        responses={202: EmailMessageSerializer, 409: ErrorSerializer},
    )
    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        message = email_delivery.resend_email(self.get_object().pk, owner=request.user)
        return Response(EmailMessageSerializer(message).data, status=status.HTTP_202_ACCEPTED)
