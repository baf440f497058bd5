"""Operator console for webhooks. The signing secret is never displayed, except once in the
confirmation message right after a webhook is added."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages

from core.exceptions import PlatformError
from core.services.ssrf import UnsafeURLError, assert_public_url
from webhook.models import DeliveryStatus, EventType, Webhook, WebhookDelivery
from webhook.services.delivery import resend_delivery


class WebhookAdminForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    event_types = forms.TypedMultipleChoiceField(
        choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Webhook
        fields = ["name", "url", "event_types", "is_enabled", "headers", "timeout"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            assert_public_url(url, allowed_networks=settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS)
        except UnsafeURLError as exc:
            raise forms.ValidationError(exc.message) from None
        return url


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookAdminForm
    list_display = ["id", "__str__", "event_types", "is_enabled", "timeout", "created_at"]
    list_filter = ["is_enabled"]
    search_fields = ["name", "url"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    fields = [
        "name",
        "url",
        "event_types",
        "is_enabled",
        "headers",
        "timeout",
        "created_by",
        "created_at",
        "updated_at",
    ]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change:
            messages.warning(
                request,
                f"Signing secret of this webhook (shown only now, store it): {obj.secret}",
            )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "webhook",
        "event_type",
        "attempt",
        "status",
        "response_status",
        "duration_ms",
        "scheduled_for",
        "created_at",
    ]
    list_filter = ["status", "event_type", "is_test", "webhook"]
    search_fields = ["message_id"]
    list_select_related = ["webhook"]
    date_hierarchy = "created_at"
    actions = ["resend_failed"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False  # deliveries come from events

    def has_change_permission(self, request, obj=None):
        return False  # a log: read-only

    @admin.action(description="Re-send selected failed deliveries")
    def resend_failed(self, request, queryset):
        sent, skipped = 0, []
        for delivery in queryset.filter(status=DeliveryStatus.FAILED):
            try:
                resend_delivery(delivery.pk)
                sent += 1
            except PlatformError as exc:
                skipped.append(f"#{delivery.pk}: {exc.message}")
        if sent:
            self.message_user(request, f"{sent} deliveries queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(request, "Not re-sent: " + "; ".join(skipped), messages.WARNING)
        if not sent and not skipped:
            self.message_user(request, "No failed delivery was selected.", messages.WARNING)


from webhook import admin_inbound  # noqa: E402, F401  (the inbound inbox's admin)
