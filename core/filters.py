"""Filters every app's FilterSets share, and the jobs API's own.

Every filter refuses what it cannot honour with a 400 naming the parameter (DjangoFilterBackend
raises the FilterSet's errors as a ValidationError): a filter that silently matches everything,
or a value that reaches the database and fails there (a 500), is a bug.
"""

from datetime import timedelta

import django_filters
from django import forms
from django.core.validators import RegexValidator
from django_filters.constants import EMPTY_VALUES
from django_filters.fields import IsoDateTimeField
from rest_framework import serializers

from core.lookups import contains
from core.models import Job, JobStatus, User
from core.services.job_kinds import kind_names

# pg_trgm cannot extract a trigram from fewer than three characters, so a shorter substring
# could only be answered by reading the whole table: it is refused instead.
MIN_SUBSTRING_LENGTH = 3
# PostgreSQL refuses a time-zone displacement of 16 hours or more ("time zone displacement
# out of range"), although Python accepts up to 24 hours.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59, seconds=59)
# Jobs' subjects: `app_label.model` and an object's id (a number, a UUID, a slug).
SUBJECT_TYPE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$"
SUBJECT_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"


class StrictBooleanField(forms.Field):
    """`true`/`false` (also 1/0, yes/no); anything else is an error, not a silent no-filter."""

    TRUE = frozenset({"true", "1", "yes"})
    FALSE = frozenset({"false", "0", "no"})

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise forms.ValidationError("Enter true or false.", code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class SubstringFilter(django_filters.CharFilter):
    """Case-insensitive substring of at least MIN_SUBSTRING_LENGTH characters, answered with
    `ILIKE` so a trigram (gin_trgm_ops) index on the column serves it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_length", MIN_SUBSTRING_LENGTH)
        kwargs.setdefault("max_length", 200)
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value in EMPTY_VALUES:
            return qs
        return qs.filter(contains(self.field_name, value))


class StrictIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time whose UTC offset PostgreSQL can store (within ±15:59)."""

    default_error_messages = {
        "offset_out_of_range": "The UTC offset must be within ±15:59.",
    }

    def to_python(self, value):
        parsed = super().to_python(value)
        offset = parsed.utcoffset() if parsed is not None else None
        if offset is not None and abs(offset) > MAX_UTC_OFFSET:
            raise forms.ValidationError(
                self.error_messages["offset_out_of_range"], code="offset_out_of_range"
            )
        return parsed


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 date-time filter; out-of-range values are a 400 naming the parameter."""

    field_class = StrictIsoDateTimeField


class CreatedRangeFilterSet(django_filters.FilterSet):
    """`created_after` (inclusive) and `created_before` (exclusive) on `created_at`."""

    created_after = IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        help_text="Created at or after this ISO 8601 time.",
    )
    created_before = IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="lt",
        help_text="Created before this ISO 8601 time.",
    )


class JobFilter(CreatedRangeFilterSet):
    kind = django_filters.CharFilter(
        method="filter_kind",
        max_length=64,
        help_text="A job kind (`catalog.import`) or one of its aliases (`import_csv_products`).",
    )
    status = django_filters.MultipleChoiceFilter(choices=JobStatus.choices)
    subject_type = django_filters.CharFilter(
        method="filter_subject_type",
        max_length=100,
        validators=[
            RegexValidator(
                SUBJECT_TYPE_PATTERN, "Give the subject type as app_label.model.", "invalid"
            )
        ],
        help_text="The kind of object jobs work on, as `app_label.model` (`codes.codebatch`).",
    )
    subject_id = django_filters.CharFilter(
        max_length=64,
        validators=[
            RegexValidator(
                SUBJECT_ID_PATTERN, "Letters, digits and - _ . : only (an object's id).", "invalid"
            )
        ],
        help_text="The id of the object jobs work on (with `subject_type`).",
    )

    class Meta:
        model = Job
        fields = ["kind", "status", "subject_type", "subject_id", "created_after", "created_before"]

    def filter_kind(self, queryset, name, value):
        return queryset.filter(kind__in=kind_names([value]))

    def filter_subject_type(self, queryset, name, value):
        app_label, _, model = value.partition(".")
        if not model:
            raise serializers.ValidationError({name: "Give the subject type as app_label.model."})
        return queryset.filter(
            subject_type__app_label=app_label.lower(), subject_type__model=model.lower()
        )


class UserFilter(django_filters.FilterSet):
    is_active = StrictBooleanFilter(help_text="true or false.")
    is_staff = StrictBooleanFilter(help_text="true or false.")

    class Meta:
        model = User
        fields = ["is_active", "is_staff"]
