"""API serializers of the email part: the send request and the stored messages."""

from rest_framework import serializers

from codes.models import EmailMessage
from core.api.serializers import StrictModelSerializer, StrictSerializer


class AddressesField(serializers.ListField):
    """One address as text ("a@x.com", "Ana <a@x.com>"), or a list of them."""

    child = serializers.CharField(max_length=320)

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = [data]
        return super().to_internal_value(data)


class EmailSendSerializer(StrictSerializer):
    to = AddressesField(allow_empty=False, max_length=500)
    cc = AddressesField(required=False, max_length=500)
    bcc = AddressesField(required=False, max_length=500)
    reply_to = AddressesField(required=False, max_length=20)
    from_email = serializers.CharField(required=False, allow_blank=True, max_length=320)
    subject = serializers.CharField(
        required=False, allow_blank=True, max_length=998, trim_whitespace=False
    )
    text = serializers.CharField(
        required=False, allow_blank=True, max_length=1_000_000, trim_whitespace=False
    )
    html = serializers.CharField(
        required=False, allow_blank=True, max_length=2_000_000, trim_whitespace=False
    )
    template = serializers.SlugField(required=False, max_length=100)
    context = serializers.DictField(required=False)
    reference = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def validate(self, attrs):
        content = [name for name in ("subject", "text", "html") if attrs.get(name)]
        if attrs.get("template") and content:
            raise serializers.ValidationError(
                {
                    name: ["Not with a template (it gives the subject and bodies)."]
                    for name in content
                }
            )
        if not attrs.get("template") and attrs.get("context"):
            raise serializers.ValidationError({"context": ["Only with a template."]})
        return attrs


class EmailMessageSerializer(StrictModelSerializer):
    email_id = serializers.IntegerField(source="pk", read_only=True)
    template = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    job_id = serializers.UUIDField(read_only=True, allow_null=True)
    code = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = EmailMessage
        fields = [
            "id",
            "email_id",
            "job_id",
            "status",
            "to",
            "cc",
            "bcc",
            "reply_to",
            "from_email",
            "subject",
            "text_body",
            "html_body",
            "template",
            "context",
            "reference",
            "code",
            "message_id",
            "attempts",
            "max_attempts",
            "next_attempt_at",
            "last_attempt_at",
            "sent_at",
            "smtp_code",
            "error",
            "history",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EmailQueuedSerializer(EmailMessageSerializer):
    duplicate = serializers.BooleanField(
        help_text="True: an earlier request with this Idempotency-Key queued this email."
    )

    class Meta(EmailMessageSerializer.Meta):
        fields = [*EmailMessageSerializer.Meta.fields, "duplicate"]
        read_only_fields = fields
