"""Inbound webhooks API: the Make.com receiver, the stored events, replays."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import error_body
from core.api.serializers import ErrorSerializer
from core.models import Role
from webhook.filters_inbound import InboundEventFilter
from webhook.models import InboundEvent
from webhook.serializers_inbound import (
    InboundEventSerializer,
    InboundReceiptSerializer,
    MakeEventSerializer,
    receipt_data,
)
from webhook.services import inbox, receivers

#: Seconds a sender should wait before retrying an event whose handler failed.
RETRY_AFTER_SECONDS = 30


def receipt_response(receipt) -> Response:
    """200 with the event's state, or the handler's error (the event is stored `failed`)."""
    if receipt.failure is None:
        return Response(receipt_data(receipt))
    failure = receipt.failure
    body = error_body(failure.code, failure.message, failure.fields)
    body["event"] = receipt_data(receipt)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if failure.status >= 500 else {}
    return Response(body, status=failure.status, headers=headers)


class MakeWebhookView(APIView):
    """Make.com posts order events here (seed 003), authenticated by `x-make-token`."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Receive a Make.com event",
        description=(
            "Authenticated by the `x-make-token` header (MAKE_TOKEN). Idempotent on "
            "`event_id`: a retry of a processed event answers 200 with `duplicate: true` and "
            "does nothing; the same `event_id` with a different body is a 409. Event types "
            "without a handler are stored and acknowledged with `status: ignored`. A handler "
            "failure stores the event as `failed` (nothing of it applied) and answers 503 "
            "(or the handler's own 4xx); sending the event again processes it again."
        ),
        parameters=[
            OpenApiParameter(
                receivers.MAKE_TOKEN_HEADER, str, OpenApiParameter.HEADER, required=True
            )
        ],
        request=MakeEventSerializer,
        responses={
            200: InboundReceiptSerializer,
            401: ErrorSerializer,
            409: ErrorSerializer,
            413: ErrorSerializer,
            422: ErrorSerializer,
            503: ErrorSerializer,
        },
    )
    def post(self, request):
        receivers.authenticate_make(request.headers.get(receivers.MAKE_TOKEN_HEADER))
        receivers.check_body_size(request.META.get("CONTENT_LENGTH"))
        receivers.check_body_size(None, request.body)
        payload = request.data
        if not isinstance(payload, dict):
            raise ValidationError({"non_field_errors": ["The body must be a JSON object."]})
        envelope = MakeEventSerializer(data=payload)
        envelope.is_valid(raise_exception=True)
        receipt = inbox.receive_event(
            receivers.MAKE_SOURCE,
            envelope.validated_data["event_id"],
            envelope.validated_data["event_type"],
            payload,
        )
        return receipt_response(receipt)


@extend_schema_view(
    list=extend_schema(summary="Received events (the inbound inbox), newest first"),
    retrieve=extend_schema(summary="One received event, with its payload"),
)
class InboundEventViewSet(viewsets.ReadOnlyModelViewSet):
    """Every event other systems sent: status, outcome, error, attempts, timestamps."""

    queryset = InboundEvent.objects.all()
    serializer_class = InboundEventSerializer
    filterset_class = InboundEventFilter
    search_fields = ["event_id"]
    ordering_fields = ["received_at", "processed_at", "attempts", "status"]
    ordering = ["-received_at", "-id"]
    # Payloads carry customers' data (buyer emails): operators only, reads included.
    required_role = Role.OPERATOR

    @extend_schema(
        summary="Replay a failed or ignored event",
        description=(
            "Runs the event's handler again with the stored payload. A processed event is "
            "never applied twice (409)."
        ),
        request=None,
        responses={200: InboundReceiptSerializer, 409: ErrorSerializer, 503: ErrorSerializer},
    )
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        receipt = inbox.replay_event(self.get_object().pk, user=request.user)
        return receipt_response(receipt)
