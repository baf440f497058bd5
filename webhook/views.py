"""Webhooks API: configuration, test sends, the delivery log and re-sends."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.serializers import ErrorSerializer
from core.models import Role
from webhook.filters import WebhookDeliveryFilter, WebhookFilter
from webhook.models import Webhook, WebhookDelivery
from webhook.serializers import (
    WebhookCreatedSerializer,
    WebhookDeliverySerializer,
    WebhookSerializer,
    WebhookTestRequestSerializer,
    WebhookTestResultSerializer,
)
from webhook.services import delivery as delivery_service
from webhook.services import events, webhooks

# Webhook configurations hold receiver URLs and custom headers (often credentials), so even
# reading them needs the operator role.
WEBHOOK_ROLE = Role.OPERATOR


@extend_schema_view(
    list=extend_schema(summary="List webhooks"),
    retrieve=extend_schema(summary="Show a webhook (never its secret)"),
    update=extend_schema(responses={200: WebhookSerializer, 400: ErrorSerializer}),
    partial_update=extend_schema(responses={200: WebhookSerializer, 400: ErrorSerializer}),
    destroy=extend_schema(summary="Delete a webhook and its delivery log"),
)
class WebhookViewSet(viewsets.ModelViewSet):
    """Outbound webhooks: platform events POSTed, signed (Standard Webhooks), to a URL."""

    queryset = Webhook.objects.all()
    serializer_class = WebhookSerializer
    filterset_class = WebhookFilter
    search_fields = ["name", "url"]
    ordering_fields = ["id", "name", "created_at", "updated_at"]
    ordering = ["id"]
    required_role = WEBHOOK_ROLE

    @extend_schema(
        summary="Create a webhook",
        description="The response holds the signing `secret`; it is never shown again.",
        responses={201: WebhookCreatedSerializer, 400: ErrorSerializer},
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = serializer.save(created_by=request.user)
        return Response(WebhookCreatedSerializer(webhook).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Send a sample event now",
        request=WebhookTestRequestSerializer,
        responses={200: WebhookTestResultSerializer, 400: ErrorSerializer},
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        webhook = self.get_object()
        serializer = WebhookTestRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        delivery = events.send_sample_event(webhook, serializer.validated_data["event_type"])
        result = {
            "success": delivery.status == "succeeded",
            "status_code": delivery.response_status,
            "duration_ms": delivery.duration_ms,
            "response_excerpt": delivery.response_excerpt,
            "error": delivery.error,
            "delivery": delivery,
        }
        return Response(WebhookTestResultSerializer(result).data)

    @extend_schema(
        summary="Replace the signing secret",
        description="The response holds the new `secret`; it is never shown again.",
        request=None,
        responses={200: WebhookCreatedSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        webhook = webhooks.rotate_secret(self.get_object())
        return Response(WebhookCreatedSerializer(webhook).data)


@extend_schema(parameters=[OpenApiParameter("webhook_pk", OpenApiTypes.INT, OpenApiParameter.PATH)])
@extend_schema_view(
    list=extend_schema(summary="Delivery attempts of a webhook, newest first"),
    retrieve=extend_schema(summary="One delivery attempt"),
)
class WebhookDeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    """Every delivery attempt of a webhook: request, response excerpt, timing, error."""

    serializer_class = WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilter
    ordering_fields = ["created_at", "attempt", "status", "scheduled_for"]
    ordering = ["-created_at", "-id"]
    required_role = WEBHOOK_ROLE

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return WebhookDelivery.objects.none()
        webhook = get_object_or_404(Webhook, pk=self.kwargs["webhook_pk"])
        return WebhookDelivery.objects.filter(webhook=webhook)

    @extend_schema(
        summary="Re-send a failed delivery",
        request=None,
        responses={202: WebhookDeliverySerializer, 409: ErrorSerializer},
    )
    @action(detail=True, methods=["post"])
    def resend(self, request, webhook_pk=None, pk=None):
        delivery = delivery_service.resend_delivery(self.get_object().pk)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
