import django_filters

from core.models import Job, JobStatus


class JobFilter(django_filters.FilterSet):
    kind = django_filters.CharFilter()
    status = django_filters.MultipleChoiceFilter(choices=JobStatus.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Job
        fields = ["kind", "status", "created_after", "created_before"]
