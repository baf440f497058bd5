"""Code API bodies and answers (seed 003's field names: code, code_type, discount_percent...)."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from core.api.serializers import StrictSerializer

from .models import Code
from .rules import CODE_MAX_LENGTH, CODE_TYPE_MAX_LENGTH, CODE_TYPE_RE

PERCENT = {
    "max_digits": 5,
    "decimal_places": 2,
    "min_value": Decimal("0"),
    "max_value": Decimal("100"),
}
AMOUNT = {"max_digits": 12, "decimal_places": 2, "min_value": Decimal("0")}


def _user_email(user) -> str | None:
    return user.email if user is not None else None


class CodeSerializer(serializers.ModelSerializer):
    """A code as the API shows it."""

    code_type = serializers.CharField(source="code_type_id", read_only=True)
    is_expired = serializers.BooleanField(read_only=True)
    allocated_at = serializers.DateTimeField(
        source="used_at", read_only=True, allow_null=True, help_text="Same as used_at."
    )
    used_by = serializers.SerializerMethodField()
    revoked_by = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    updated_by = serializers.SerializerMethodField()

    class Meta:
        model = Code
        fields = [
            "id",
            "code",
            "code_type",
            "status",
            "discount_percent",
            "discount_amount",
            "campaign",
            "expires_at",
            "is_expired",
            "reference",
            "used_at",
            "allocated_at",
            "used_by",
            "revoked_at",
            "revoked_by",
            "revoked_reason",
            "previous_code",
            "metadata",
            "batch",
            "created_at",
            "created_by",
            "updated_at",
            "updated_by",
        ]
        read_only_fields = fields

    def get_used_by(self, code) -> str | None:
        return _user_email(code.used_by)

    def get_revoked_by(self, code) -> str | None:
        return _user_email(code.revoked_by)

    def get_created_by(self, code) -> str | None:
        return _user_email(code.created_by)

    def get_updated_by(self, code) -> str | None:
        return _user_email(code.updated_by)


def validate_code_type(value: str) -> str:
    value = value.strip().lower()
    if not CODE_TYPE_RE.fullmatch(value):
        raise serializers.ValidationError(
            "A code type is a lower-case slug: letters, digits, - and _ (at most 32)."
        )
    return value


class CodeFieldsSerializer(StrictSerializer):
    """The properties a code is created or updated with."""

    code_type = serializers.CharField(
        max_length=CODE_TYPE_MAX_LENGTH,
        required=False,
        validators=[validate_code_type],
        help_text="discount (default), access, ...: a short slug.",
    )
    discount_percent = serializers.DecimalField(**PERCENT, required=False, allow_null=True)
    discount_amount = serializers.DecimalField(**AMOUNT, required=False, allow_null=True)
    campaign = serializers.CharField(max_length=128, required=False, allow_blank=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    metadata = serializers.DictField(required=False)

    def validate_code_type(self, value):
        return validate_code_type(value)

    def validate(self, attrs):
        if attrs.get("discount_percent") is not None and attrs.get("discount_amount") is not None:
            raise serializers.ValidationError(
                {"discount_amount": ["Give a discount percent or an amount, not both."]}
            )
        return attrs


class CodeCreateSerializer(CodeFieldsSerializer):
    code = serializers.CharField(
        max_length=CODE_MAX_LENGTH + 100,  # longer texts get the code rule's own message
        trim_whitespace=True,
        allow_blank=True,
        help_text="The code text, stored as typed; unique in any letter case.",
    )


class CodeUpdateSerializer(CodeFieldsSerializer):
    code = serializers.CharField(
        max_length=CODE_MAX_LENGTH + 100,
        required=False,
        help_text="A new text (available codes only); the old one is kept as previous_code.",
    )


class MarkUsedSerializer(StrictSerializer):
    reference = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        default="",
        help_text="What the code was used for: an order id, a buyer's email.",
    )
    metadata = serializers.DictField(required=False, help_text="Merged into the code's metadata.")


class RevokeSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AllocateSerializer(StrictSerializer):
    """The allocation's optional JSON body (the query string may carry the same fields)."""

    code_type = serializers.CharField(max_length=CODE_TYPE_MAX_LENGTH, required=False)
    reference = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        help_text="What the code is for (an order id): one reference never gets two codes.",
    )


class AllocationSerializer(serializers.Serializer):
    """Seed 003's answer `{code, id, allocated_at}`, plus the code's properties."""

    code = serializers.CharField()
    id = serializers.UUIDField()
    allocated_at = serializers.DateTimeField()
    code_type = serializers.CharField()
    reference = serializers.CharField()
    discount_percent = serializers.DecimalField(**PERCENT, allow_null=True)
    discount_amount = serializers.DecimalField(**AMOUNT, allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    created = serializers.BooleanField(
        help_text="False when an earlier call with the same key or reference allocated it."
    )


class StatusChangeSerializer(CodeSerializer):
    changed = serializers.BooleanField(
        read_only=True, help_text="False when the code already was in that state (a no-op)."
    )

    class Meta(CodeSerializer.Meta):
        fields = [*CodeSerializer.Meta.fields, "changed"]
        read_only_fields = fields
