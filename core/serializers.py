from django.contrib.auth import password_validation
from rest_framework import serializers

from core.api.serializers import StrictModelSerializer, StrictSerializer
from core.models import Job, Role, User


class UserSerializer(serializers.ModelSerializer):
    role = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "role", "is_staff", "date_joined"]
        read_only_fields = fields


class ProfileSerializer(StrictModelSerializer):
    role = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "role", "is_staff", "date_joined"]
        read_only_fields = ["id", "role", "is_staff", "date_joined"]

    def validate_email(self, value):
        value = value.strip().lower()
        if User.objects.filter(email__iexact=value).exclude(pk=self.instance.pk).exists():
            raise serializers.ValidationError("A user with this email already exists.")
        return value


class RegisterSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)

    def validate_email(self, value):
        value = value.strip().lower()
        if User.objects.filter(email__iexact=value).exists():
            raise serializers.ValidationError("A user with this email already exists.")
        return value

    def validate(self, attrs):
        candidate = User(
            email=attrs["email"],
            first_name=attrs.get("first_name", ""),
            last_name=attrs.get("last_name", ""),
        )
        password_validation.validate_password(attrs["password"], candidate)
        return attrs


class LoginSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)


class ChangePasswordSerializer(StrictSerializer):
    old_password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = UserSerializer()


class AdminUserSerializer(StrictModelSerializer):
    """What admins may change on a user: role and whether the account is active."""

    role = serializers.ChoiceField(choices=Role.choices, required=False, allow_null=True)

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "role",
            "is_active",
            "is_staff",
            "date_joined",
            "last_login",
        ]
        read_only_fields = ["id", "email", "first_name", "last_name", "date_joined", "last_login"]


class JobSerializer(serializers.ModelSerializer):
    owner = serializers.EmailField(source="owner.email", read_only=True, allow_null=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "title",
            "status",
            "progress",
            "phase",
            "counters",
            "params",
            "result",
            "error",
            "owner",
            "queue",
            "attempts",
            "retry_of",
            "celery_task_id",
            "cancel_requested",
            "log_line_count",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
        ]
        read_only_fields = fields


class JobStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_kind = serializers.DictField(child=serializers.IntegerField())
    mean_duration_seconds = serializers.FloatField(allow_null=True)
    failure_rate = serializers.FloatField(allow_null=True)


class EchoJobSerializer(StrictSerializer):
    """Parameters of the `diagnostics.echo` smoke-test job."""

    lines = serializers.IntegerField(min_value=1, max_value=1_000_000, default=10)
    interval_ms = serializers.IntegerField(min_value=0, max_value=10_000, default=0)
    fail_at_line = serializers.IntegerField(min_value=1, required=False)
    delay_ms = serializers.IntegerField(min_value=0, max_value=60_000, default=0)
    unsafe = serializers.BooleanField(
        default=False,
        help_text="Behave like a job with an outside effect: never re-run after a lost worker.",
    )
