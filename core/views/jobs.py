"""Jobs API: history, detail, cancel, retry, log download, running jobs, statistics."""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.serializers import ErrorSerializer
from core.exceptions import UnknownJobKind
from core.filters import JobFilter
from core.models import Job, JobStatus
from core.serializers import EchoJobSerializer, JobSerializer, JobStatsSerializer
from core.services.job_access import (
    MAX_OWNER_LENGTH,
    OWNER_PATTERN,
    listed_jobs,
    visible_jobs,
)
from core.services.job_kinds import get_job_kind
from core.services.job_logs import iter_job_log
from core.services.job_stats import summarize_jobs
from core.services.jobs import cancel_job, retry_job, start_job

# Actions over a set of jobs: the caller's own unless staff ask for more (`owner`).
LIST_ACTIONS = frozenset({"list", "running", "stats_summary"})

OWNER_PARAMETER = OpenApiParameter(
    "owner",
    {"type": "string", "pattern": OWNER_PATTERN, "maxLength": MAX_OWNER_LENGTH},
    description="Whose jobs: `me` (the default), or, for staff, `all` or one user's "
    "(email or id). Others naming anyone but themselves get 403.",
)


@extend_schema_view(
    list=extend_schema(parameters=[OWNER_PARAMETER]),
    retrieve=extend_schema(
        description="The job, plus the fields its kind adds for a detail view (an import's "
        "`filename`, `total_rows`, `errors`, ...)."
    ),
)
class JobViewSet(viewsets.ReadOnlyModelViewSet):
    """Background runs of every kind. Lists show the caller's own jobs (staff may ask for
    everyone's with `owner=all`); a job's owner and staff may open, cancel and retry it."""

    serializer_class = JobSerializer
    filterset_class = JobFilter
    search_fields = ["title", "kind"]
    ordering_fields = ["created_at", "started_at", "finished_at", "status", "kind", "progress"]
    ordering = ["-created_at"]
    action_roles = {"cancel": "operator", "retry": "operator", "diagnostics": "operator"}
    throttle_scopes = {"retry": "bulk", "diagnostics": "bulk"}

    queryset = Job.objects.none()  # typed path parameters in the OpenAPI schema

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Job.objects.none()
        if self.action in LIST_ACTIONS:
            return listed_jobs(self.request.user, self.request.query_params.get("owner"))
        return visible_jobs(self.request.user)

    def retrieve(self, request, *args, **kwargs):
        job = self.get_object()
        try:
            kind = get_job_kind(job.kind)
        except UnknownJobKind:  # a kind no longer declared: the job as it is
            kind_fields = {}
        else:
            kind_fields = kind.detail(job)
        # The job's own fields win: a kind adds fields, it does not redefine the job's.
        return Response({**kind_fields, **self.get_serializer(job).data})

    @extend_schema(request=None, responses={202: JobSerializer, 409: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = cancel_job(self.get_object().pk)
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={201: JobSerializer, 409: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        job = retry_job(self.get_object().pk, owner=request.user)
        return Response(self.get_serializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"])
    def logs(self, request, pk=None):
        """The job's whole log as a text file."""
        job = self.get_object()
        response = StreamingHttpResponse(
            iter_job_log(job.pk), content_type="text/plain; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="job-{job.pk}.log"'
        return response

    @extend_schema(request=EchoJobSerializer, responses={202: JobSerializer})
    @action(detail=False, methods=["post"], url_path="diagnostics")
    def diagnostics(self, request):
        """Start a `diagnostics.echo` job: a smoke test of worker, database and live stream."""
        serializer = EchoJobSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = start_job(
            "diagnostics.echo",
            params=serializer.validated_data,
            owner=request.user,
            title="Pipeline smoke test",
        )
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(parameters=[OWNER_PARAMETER], responses=JobSerializer(many=True), filters=True)
    @action(detail=False, methods=["get"])
    def running(self, request):
        """Pending and running jobs, one page at a time."""
        jobs = self.filter_queryset(self.get_queryset()).filter(
            status__in=[JobStatus.PENDING, JobStatus.RUNNING]
        )
        page = self.paginate_queryset(jobs)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(parameters=[OWNER_PARAMETER], responses=JobStatsSerializer, filters=True)
    @action(detail=False, methods=["get"], url_path="stats/summary")
    def stats_summary(self, request):
        jobs = self.filter_queryset(self.get_queryset())
        return Response(summarize_jobs(jobs))
