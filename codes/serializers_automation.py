"""Bodies of the automation endpoints (seed 003's field names: csv_path, dry_run, headless,
rename_prefix, rename_pad_length, rename_start, ...) and the batch-jobs answers."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import StrictSerializer
from core.serializers import JobSerializer

from .rules import CODE_MAX_LENGTH, CODE_RE, CODE_TYPE_MAX_LENGTH
from .serializers import AMOUNT, PERCENT, validate_code_type
from .services.batches import seed_job_type
from .services.files import confine_input
from .services.patterns import DEFAULT_CHARSET, check_pattern


def _path_field(help_text: str):
    return serializers.CharField(max_length=4096, required=False, help_text=help_text)


class _JobOptions(StrictSerializer):
    dry_run = serializers.BooleanField(
        default=False, help_text="Check and report without changing anything."
    )
    headless = serializers.BooleanField(
        default=True, help_text="Passed to the Fienta CLI as --headless."
    )


class CreateCodesSerializer(_JobOptions):
    csv_path = _path_field(
        "A CSV or XLSX file in the data directory (columns code, type, discount, campaign, "
        "expiry), or upload it as `file` (multipart)."
    )
    pattern = serializers.CharField(
        max_length=CODE_MAX_LENGTH,
        required=False,
        help_text="Generate codes instead: PROMO-#### (each # one character of `charset`).",
    )
    count = serializers.IntegerField(min_value=1, required=False, help_text="With pattern.")
    charset = serializers.CharField(
        max_length=100, required=False, help_text=f"With pattern; default {DEFAULT_CHARSET}."
    )
    code_type = serializers.CharField(
        max_length=CODE_TYPE_MAX_LENGTH,
        required=False,
        validators=[validate_code_type],
        help_text="Type of rows naming none (default CODES_DEFAULT_CODE_TYPE).",
    )
    discount_percent = serializers.DecimalField(**PERCENT, required=False, allow_null=True)
    discount_amount = serializers.DecimalField(**AMOUNT, required=False, allow_null=True)
    campaign = serializers.CharField(max_length=128, required=False, allow_blank=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    shopify_discount_id = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Also add the new codes to this Shopify discount (gid://shopify/"
        "DiscountCodeNode/...), when a store is configured; default: the type's.",
    )

    def validate_code_type(self, value):
        return validate_code_type(value)

    def validate_csv_path(self, value):
        return confine_input(value, field="csv_path")

    def validate(self, attrs):
        if bool(attrs.get("csv_path")) == bool(attrs.get("pattern")):
            raise serializers.ValidationError(
                {"csv_path": ["Give csv_path (or upload a file) or a pattern, one of them."]}
            )
        if attrs.get("discount_percent") is not None and attrs.get("discount_amount") is not None:
            raise serializers.ValidationError(
                {"discount_amount": ["Give a discount percent or an amount, not both."]}
            )
        if attrs.get("pattern"):
            count = attrs.get("count")
            if count is None:
                raise serializers.ValidationError({"count": ["Required with pattern."]})
            if count > settings.CODES_BULK_MAX_ROWS:
                raise serializers.ValidationError(
                    {"count": [f"At most {settings.CODES_BULK_MAX_ROWS:,} codes per batch."]}
                )
            check_pattern(attrs["pattern"], attrs.get("charset") or DEFAULT_CHARSET, count)
        elif attrs.get("count") is not None or attrs.get("charset"):
            raise serializers.ValidationError({"count": ["Only with pattern."]})
        return attrs

    def to_params(self) -> dict:
        """The validated values as the job stores them (JSON: decimals and times as text)."""
        params = {}
        for name, value in self.validated_data.items():
            if isinstance(value, Decimal):
                value = str(value)
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            if value is not None:
                params[name] = value
        return params


class _CodeListSerializer(_JobOptions):
    csv_path = _path_field(
        "A CSV or XLSX file in the data directory listing the codes (a `code` column, or "
        "its only column), or upload it as `file`."
    )
    codes = serializers.ListField(
        child=serializers.CharField(max_length=CODE_MAX_LENGTH + 100, allow_blank=True),
        required=False,
        allow_empty=False,
        max_length=100_000,
        help_text="The codes themselves, instead of a file.",
    )

    def validate_csv_path(self, value):
        return confine_input(value, field="csv_path")

    def _one_source(self, attrs, *, allow_filter: bool = False) -> None:
        sources = [name for name in ("csv_path", "codes", "filter") if attrs.get(name) is not None]
        if len(sources) != 1:
            names = "csv_path (or a file), codes" + (" or filter" if allow_filter else "")
            raise serializers.ValidationError({"csv_path": [f"Give one of {names}."]})

    to_params = CreateCodesSerializer.to_params


class RenameCodesSerializer(_CodeListSerializer):
    rename_prefix = serializers.CharField(
        max_length=200, trim_whitespace=False, help_text="New names: prefix + number (MOB-)."
    )
    rename_pad_length = serializers.IntegerField(
        min_value=0, max_value=30, default=3, help_text="Zero-pad the number to this many digits."
    )
    rename_start = serializers.IntegerField(
        min_value=0, max_value=10**12, default=1, help_text="The first code's number."
    )

    def validate_rename_prefix(self, value):
        if not CODE_RE.fullmatch(value):
            raise serializers.ValidationError(
                "The prefix may only hold letters, digits and - _ . + % # @ ! :"
            )
        return value

    def validate(self, attrs):
        self._one_source(attrs)
        return attrs


class UpdateDiscountSerializer(_CodeListSerializer):
    update_discount_percent = serializers.DecimalField(
        **PERCENT, required=False, help_text="The new discount percent (the CLI's flag)."
    )
    discount_percent = serializers.DecimalField(
        **PERCENT, required=False, help_text="Same as update_discount_percent."
    )
    filter = serializers.DictField(
        required=False,
        help_text="Instead of a list: the codes matching these GET /api/codes filters "
        '({"code_type": "discount", "campaign": "spring", "status": "available"}).',
    )

    def validate_filter(self, value):
        from .services.bulk_discount import filtered_codes

        if not value:
            raise serializers.ValidationError("Give at least one filter.")
        filtered_codes(value)  # a 400 now rather than a failed job
        return value

    def validate(self, attrs):
        self._one_source(attrs, allow_filter=True)
        given = [
            attrs.pop(name)
            for name in ("update_discount_percent", "discount_percent")
            if name in attrs
        ]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"update_discount_percent": ["Give the new discount percent (once)."]}
            )
        attrs["discount_percent"] = given[0]
        return attrs


class CsvDiffSerializer(_JobOptions):
    diff_old = _path_field("The old list (CSV) in the data directory, or upload `old_file`.")
    diff_new = _path_field("The new list (CSV) in the data directory, or upload `new_file`.")
    key_column = serializers.CharField(
        max_length=200, default="code", help_text="The column rows are matched by."
    )
    case_sensitive = serializers.BooleanField(
        default=False, help_text="Match keys in exact letter case (codes ignore case)."
    )

    def validate_diff_old(self, value):
        return confine_input(value, field="diff_old", formats=("csv",))

    def validate_diff_new(self, value):
        return confine_input(value, field="diff_new", formats=("csv",))

    def validate(self, attrs):
        missing = {name: ["Required."] for name in ("diff_old", "diff_new") if name not in attrs}
        if missing:
            raise serializers.ValidationError(missing)
        return attrs

    to_params = CreateCodesSerializer.to_params


class XlsxToCsvSerializer(StrictSerializer):
    xlsx_path = _path_field("The workbook in the data directory, or upload it as `file`.")
    sheet = serializers.CharField(
        max_length=200, required=False, help_text="Sheet name or number (from 1); the first."
    )
    output_path = serializers.CharField(
        max_length=4096,
        required=False,
        help_text="Where to write the CSV in the data directory (default: the batch's folder).",
    )
    delimiter = serializers.ChoiceField(choices=[",", ";", "\t", "|"], default=",")
    dry_run = serializers.BooleanField(default=False, help_text="Accepted; nothing to change.")

    def validate_xlsx_path(self, value):
        return confine_input(value, field="xlsx_path", formats=("xlsx",))

    def validate_output_path(self, value):
        from core.services.paths import PathRejected, confine_path

        try:
            confine_path(value, settings.DATA_DIR, must_exist=False)
        except PathRejected as exc:
            raise serializers.ValidationError(str(exc)) from None
        if not value.lower().endswith(".csv"):
            raise serializers.ValidationError("The output is a .csv file.")
        return value

    def validate(self, attrs):
        if "xlsx_path" not in attrs:
            raise serializers.ValidationError({"xlsx_path": ["Required (or upload a file)."]})
        return attrs

    to_params = CreateCodesSerializer.to_params


class JobStartedSerializer(serializers.Serializer):
    """202 answer of an automation endpoint (the seed's frontend reads `job_id`)."""

    job_id = serializers.UUIDField()
    batch_id = serializers.IntegerField()
    status = serializers.CharField()
    job_type = serializers.CharField(help_text="The seed's job type: fienta.create_codes, ...")
    kind = serializers.CharField()
    message = serializers.CharField()
    status_url = serializers.CharField()


class BatchJobSerializer(JobSerializer):
    """A job in /api/batch-jobs: the core job, plus the seed's `job_type`."""

    job_type = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "job_type"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_job_type(self, job) -> str:
        return seed_job_type(job.kind)


class RunningJobsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    running = serializers.IntegerField()
    pending = serializers.IntegerField()
    jobs = BatchJobSerializer(many=True)
