"""The outbox in the operator console: every email with its attempts, and the templates."""

from django import forms
from django.contrib import admin, messages
from django.template import TemplateSyntaxError
from django.utils.html import format_html

from codes.models import EmailMessage, EmailStatus, EmailTemplate
from codes.services.email import check_template_syntax
from codes.services.email_delivery import resend_email
from core.exceptions import PlatformError


class EmailTemplateForm(forms.ModelForm):
    class Meta:
        model = EmailTemplate
        fields = ["name", "description", "subject", "text_body", "html_body"]

    def clean(self):
        cleaned = super().clean()
        for name in ("subject", "text_body", "html_body"):
            try:
                check_template_syntax(cleaned.get(name) or "")
            except TemplateSyntaxError as exc:
                self.add_error(name, f"Template error: {exc}")
        if not (cleaned.get("text_body") or cleaned.get("html_body")):
            raise forms.ValidationError("Give a text body, an HTML body, or both.")
        return cleaned


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    form = EmailTemplateForm
    list_display = ["name", "subject", "description", "updated_at"]
    search_fields = ["name", "subject", "description"]


@admin.register(EmailMessage)
class EmailMessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "status",
        "recipients_display",
        "subject",
        "attempts",
        "smtp_code",
        "sent_at",
    ]
    list_filter = ["status", "template"]
    search_fields = ["subject", "reference", "message_id"]
    date_hierarchy = "created_at"
    actions = ["resend_failed"]
    readonly_fields = ["preview", *[f.name for f in EmailMessage._meta.fields]]
    fieldsets = [
        (None, {"fields": ["status", "to", "cc", "bcc", "from_email", "subject", "preview"]}),
        (
            "Delivery",
            {
                "fields": [
                    "message_id",
                    "attempts",
                    "max_attempts",
                    "next_attempt_at",
                    "last_attempt_at",
                    "sent_at",
                    "smtp_code",
                    "error",
                    "history",
                    "job",
                ]
            },
        ),
        (
            "Origin",
            {
                "fields": [
                    "reference",
                    "template",
                    "context",
                    "idempotency_key",
                    "created_by",
                    "created_at",
                ]
            },
        ),
    ]

    def has_add_permission(self, request):
        return False  # emails are queued through the API or by the platform

    def has_change_permission(self, request, obj=None):
        return False  # a log: read-only

    @admin.display(description="to")
    def recipients_display(self, obj):
        return ", ".join(obj.to)

    @admin.display(description="message")
    def preview(self, obj):
        # The HTML is shown in a sandboxed frame: no scripts, no navigation of the console.
        text = format_html(
            '<pre style="white-space: pre-wrap; max-width: 60em">{}</pre>', obj.text_body
        )
        if not obj.html_body:
            return text
        return format_html(
            '{}<iframe sandbox="" srcdoc="{}" title="HTML body" '
            'style="width: 100%; max-width: 60em; height: 28em; border: 1px solid #ccc">'
            "</iframe>",
            text,
            obj.html_body,
        )

    @admin.action(description="Send selected failed emails again")
    def resend_failed(self, request, queryset):
        sent, skipped = 0, []
        for pk in queryset.filter(status=EmailStatus.FAILED).values_list("pk", flat=True):
            try:
                resend_email(pk, owner=request.user)
                sent += 1
            except PlatformError as exc:
                skipped.append(f"#{pk}: {exc.message}")
        if sent:
            self.message_user(request, f"{sent} emails queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(request, "Not resent: " + "; ".join(skipped), messages.WARNING)
        if not sent and not skipped:
            self.message_user(request, "No failed email was selected.", messages.WARNING)
