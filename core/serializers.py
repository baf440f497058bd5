from django.contrib.auth import password_validation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import StrictModelSerializer, StrictSerializer
from core.models import Job, Role, User
from core.services.job_access import sees_all_jobs, split_job_error


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
    access = serializers.CharField(help_text="Access token (JWT): `Authorization: Bearer ...`.")
    access_token = serializers.CharField(
        help_text="The same access token, under the script runner's name for it."
    )
    refresh = serializers.CharField(help_text="Refresh token: POST it to /api/auth/refresh.")
    user = UserSerializer()


ADMIN_USER_FIELDS = [
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


class AdminUserSerializer(serializers.ModelSerializer):
    """A user as admins see them."""

    role = serializers.ChoiceField(choices=Role.choices, read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = ADMIN_USER_FIELDS
        read_only_fields = ADMIN_USER_FIELDS


class AdminUserUpdateSerializer(StrictModelSerializer):
    """What admins may change on a user: role, active and staff flags. A PUT gives all three
    (an omitted flag is an error, never a silent `false`); a PATCH any of them. The read-only
    fields of a user may be sent back unchanged (they are ignored)."""

    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = User
        fields = ADMIN_USER_FIELDS
        read_only_fields = ["id", "email", "first_name", "last_name", "date_joined", "last_login"]
        extra_kwargs = {"is_active": {"required": True}, "is_staff": {"required": True}}


class JobSerializer(serializers.ModelSerializer):
    """A job. `error` is the message of a failed job; its traceback (server paths) is only
    shown to staff, in `traceback`."""

    job_id = serializers.UUIDField(source="id", read_only=True, help_text="Same as `id`.")
    owner = serializers.EmailField(source="owner.email", read_only=True, allow_null=True)
    error = serializers.SerializerMethodField(
        help_text="Why the job failed or was cancelled (empty otherwise)."
    )
    traceback = serializers.SerializerMethodField(
        help_text="Staff only: the traceback of a failed job (null for others, or if none)."
    )
    completed_at = serializers.DateTimeField(
        source="finished_at",
        read_only=True,
        allow_null=True,
        help_text="When the job ended, whatever its outcome (same as `finished_at`).",
    )
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    subject = serializers.SerializerMethodField(
        help_text="The object the job works on: {type: app_label.model, id}, or null."
    )
    interruptions = serializers.ListField(
        child=serializers.DictField(),
        read_only=True,
        help_text="Attempts that ended without finishing (a lost worker, a shutdown): "
        "attempt, at, phase, worker, reason, stopped_cleanly, outcome.",
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "job_id",
            "kind",
            "title",
            "status",
            "progress",
            "phase",
            "counters",
            "params",
            "result",
            "error",
            "traceback",
            "owner",
            "subject",
            "queue",
            "attempts",
            "interruptions",
            "worker",
            "unsafe_section",
            "retry_of",
            "celery_task_id",
            "cancel_requested",
            "stop_requested",
            "log_line_count",
            "created_at",
            "started_at",
            "finished_at",
            "completed_at",
            "duration_seconds",
        ]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {"type": {"type": "string"}, "id": {"type": "string"}},
        }
    )
    def get_subject(self, job) -> dict | None:
        if not job.subject_type_id:
            return None
        subject_type = job.subject_type
        return {"type": f"{subject_type.app_label}.{subject_type.model}", "id": job.subject_id}

    @extend_schema_field(OpenApiTypes.STR)
    def get_error(self, job) -> str:
        return split_job_error(job.error)[0]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_traceback(self, job) -> str | None:
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not sees_all_jobs(user):
            return None
        return split_job_error(job.error)[1]


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
