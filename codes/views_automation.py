"""Seed 003's automation endpoints (bulk code jobs) and its job API, /api/batch-jobs.

The jobs are core Jobs (kinds in codes/jobs.py); /api/batch-jobs is the core jobs API's
services (who sees what, cancel, log streaming, statistics) under the seed's paths, listing
the code manager's kinds unless `kind` names another.
"""

from __future__ import annotations

from django.db.models import Count, Q
from django.http import FileResponse, Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.serializers import ErrorSerializer
from core.exceptions import PlatformError, UnknownJobKind
from core.filters import JobFilter
from core.models import Job, JobStatus
from core.serializers import JobStatsSerializer
from core.services.job_access import listed_jobs, visible_jobs
from core.services.job_kinds import get_job_kind
from core.services.job_logs import iter_job_log
from core.services.job_stats import summarize_jobs
from core.services.jobs import cancel_job

from .jobs import CREATE_CODES, CSV_DIFF, RENAME_CODES, UPDATE_DISCOUNT, XLSX_TO_CSV
from .models import BatchOperation
from .serializers_automation import (
    BatchJobSerializer,
    CreateCodesSerializer,
    CsvDiffSerializer,
    JobStartedSerializer,
    RenameCodesSerializer,
    RunningJobsSerializer,
    UpdateDiscountSerializer,
    XlsxToCsvSerializer,
)
from .services.batches import batch_for, seed_job_data, seed_job_type, start_batch_job
from .services.files import data_dir, relative_to_data
from .services.uploads import CodeFilesUploadHandler

JOB_STARTED = "Job created successfully"
#: What /api/batch-jobs lists unless `kind` asks for another kind.
CODE_KIND_PREFIX = "codes."
RUNNING_LIMIT = 100


class _AutomationView(APIView):
    """Start one bulk job: JSON (paths in the data directory) or multipart (uploaded files,
    the other fields as form fields). 202 with the job id at once."""

    parser_classes = [JSONParser, MultiPartParser]
    throttle_scope = "bulk"
    serializer_class: type
    kind = None
    operation = ""
    title = ""
    #: multipart file field → the parameter its stored path becomes
    upload_fields = {"file": "csv_path"}

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body: files stream to DATA_DIR/uploads/codes/.
        self.upload_handler = CodeFilesUploadHandler(request, tuple(self.upload_fields))
        request.upload_handlers = [self.upload_handler]
        return super().initialize_request(request, *args, **kwargs)

    def handle_exception(self, exc):
        self.upload_handler.discard_all()  # a refused request leaves no file behind
        return super().handle_exception(exc)

    def post(self, request):
        data = self._data(request)
        # A multipart form carries text only (`dry_run=true`): converted, not type-checked.
        form = hasattr(request.data, "getlist")
        serializer = self.serializer_class(data=data, context={"form_values": form})
        serializer.is_valid(raise_exception=True)
        params = serializer.to_params()
        source, source_path = self._source(params)
        batch, job = start_batch_job(
            self.kind,
            self.operation,
            params=params,
            owner=request.user,
            title=f"{self.title}: {source}" if source else self.title,
            source=source,
            source_path=source_path,
        )
        body = {
            "job_id": job.pk,
            "batch_id": batch.pk,
            "status": job.status,
            "job_type": seed_job_type(job.kind),
            "kind": job.kind,
            "message": JOB_STARTED,
            "status_url": f"/api/batch-jobs/{job.pk}",
        }
        return Response(JobStartedSerializer(body).data, status=status.HTTP_202_ACCEPTED)

    def _data(self, request) -> dict:
        if not hasattr(request.data, "getlist"):  # JSON
            return dict(request.data) if isinstance(request.data, dict) else request.data
        data = {key: request.data[key] for key in request.data if key not in request.FILES}
        for field_name, param in self.upload_fields.items():
            upload = self.upload_handler.stored.get(field_name)
            if upload is not None:
                if param in data:
                    raise _both(field_name, param)
                data[param] = relative_to_data(upload.path)
        return data

    def _source(self, params: dict) -> tuple[str, str]:
        paths = [params[param] for param in self.upload_fields.values() if params.get(param)]
        names = [path.rsplit("/", 1)[-1] for path in paths]
        return " / ".join(names), ";".join(paths)


def _both(field_name: str, param: str) -> PlatformError:
    message = f"Upload `{field_name}` or give `{param}`, not both."
    return PlatformError(message, fields={param: [message]})


def _started_schema(serializer):
    return extend_schema(
        request={"application/json": serializer, "multipart/form-data": serializer},
        responses={202: JobStartedSerializer, 400: ErrorSerializer, 413: ErrorSerializer},
    )


class CreateCodesView(_AutomationView):
    """Create codes from a CSV/XLSX file or a pattern (seed: fienta.create_codes)."""

    serializer_class = CreateCodesSerializer
    kind = CREATE_CODES
    operation = BatchOperation.CREATE
    title = "Create codes"

    @_started_schema(CreateCodesSerializer)
    def post(self, request):
        return super().post(request)

    def _source(self, params):
        if params.get("pattern"):
            return f"pattern {params['pattern']} x {params['count']}", ""
        return super()._source(params)


class RenameCodesView(_AutomationView):
    """Rename the listed codes to prefix + zero-padded number (seed: fienta.rename_codes)."""

    serializer_class = RenameCodesSerializer
    kind = RENAME_CODES
    operation = BatchOperation.RENAME
    title = "Rename codes"

    @_started_schema(RenameCodesSerializer)
    def post(self, request):
        return super().post(request)

    def _source(self, params):
        if params.get("codes") is not None:
            return f"{len(params['codes'])} listed codes", ""
        return super()._source(params)


class UpdateDiscountView(_AutomationView):
    """New discount percent for the listed codes or a filter (seed: fienta.update_discount)."""

    serializer_class = UpdateDiscountSerializer
    kind = UPDATE_DISCOUNT
    operation = BatchOperation.UPDATE_DISCOUNT
    title = "Update discount"

    @_started_schema(UpdateDiscountSerializer)
    def post(self, request):
        return super().post(request)

    def _source(self, params):
        if params.get("filter") is not None:
            return "filter " + ", ".join(f"{k}={v}" for k, v in params["filter"].items()), ""
        if params.get("codes") is not None:
            return f"{len(params['codes'])} listed codes", ""
        return super()._source(params)


class CsvDiffView(_AutomationView):
    """Compare two code lists by a key column (seed: fienta.csv_diff)."""

    serializer_class = CsvDiffSerializer
    kind = CSV_DIFF
    operation = BatchOperation.CSV_DIFF
    title = "Compare code lists"
    upload_fields = {"old_file": "diff_old", "new_file": "diff_new"}

    @_started_schema(CsvDiffSerializer)
    def post(self, request):
        return super().post(request)


class XlsxToCsvView(_AutomationView):
    """Convert a workbook sheet to CSV (seed: csv.xlsx_to_csv)."""

    serializer_class = XlsxToCsvSerializer
    kind = XLSX_TO_CSV
    operation = BatchOperation.XLSX_TO_CSV
    title = "Convert XLSX to CSV"
    upload_fields = {"file": "xlsx_path"}

    @_started_schema(XlsxToCsvSerializer)
    def post(self, request):
        return super().post(request)


# --- /api/batch-jobs ----------------------------------------------------------------------

LIST_ACTIONS = frozenset({"list", "running_status", "stats_summary"})


class BatchJobViewSet(viewsets.GenericViewSet):
    """Seed 003's job API on the core Job engine. Lists show the caller's own code-manager
    jobs (`kind` names any other kind, by name or seed alias; staff may ask for everyone's
    with `owner=all`); a job's owner and staff may open, cancel and read it.

    The detail carries the core job's fields, its batch (counts, summary, result file) and
    `data`: the seed's `batch_jobs` row (`data.status`: pending, running, completed, failed
    or cancelled; `data.results`; `data.error_message`)."""

    serializer_class = BatchJobSerializer
    filterset_class = JobFilter
    search_fields = ["title", "kind"]
    ordering_fields = ["created_at", "started_at", "finished_at", "status", "kind", "progress"]
    ordering = ["-created_at"]
    action_roles = {"cancel": "operator"}
    lookup_value_regex = r"[0-9a-fA-F-]{32,36}"
    queryset = Job.objects.none()  # typed path parameters in the OpenAPI schema

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Job.objects.none()
        if self.action not in LIST_ACTIONS:
            return visible_jobs(self.request.user)
        jobs = listed_jobs(self.request.user, self.request.query_params.get("owner"))
        if not self.request.query_params.get("kind"):
            jobs = jobs.filter(kind__startswith=CODE_KIND_PREFIX)
        return jobs

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        responses=OpenApiResponse(
            BatchJobSerializer,
            description="The job, its `batch` and `data` (the seed's batch_jobs row).",
        )
    )
    def retrieve(self, request, pk=None):
        return Response(self._detail(self.get_object()))

    def _detail(self, job: Job) -> dict:
        try:
            kind_fields = get_job_kind(job.kind).detail(job)
        except UnknownJobKind:
            kind_fields = {}
        data = self.get_serializer(job).data
        return {**kind_fields, **data, "data": seed_job_data(job, batch_for(job))}

    @extend_schema(request=None, responses={202: BatchJobSerializer, 409: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = cancel_job(self.get_object().pk)
        return Response(self._detail(job), status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"])
    def logs(self, request, pk=None):
        """The job's whole log as a text file, streamed."""
        job = self.get_object()
        response = StreamingHttpResponse(
            iter_job_log(job.pk), content_type="text/plain; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="job-{job.pk}.log"'
        return response

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.BINARY, 404: ErrorSerializer})
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        """The batch's per-row result file (CSV): outcome and message of each row."""
        batch = batch_for(self.get_object())
        if batch is None or not batch.result_path:
            raise Http404
        path = data_dir() / batch.result_path
        if not path.is_file():
            raise Http404
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"batch-{batch.pk}-{path.name}",
            content_type="text/csv; charset=utf-8",
        )

    @extend_schema(responses=RunningJobsSerializer, filters=True)
    @action(detail=False, methods=["get"], url_path="running/status")
    def running_status(self, request):
        """Pending and running jobs (at most 100, newest first) and how many there are."""
        jobs = self.filter_queryset(self.get_queryset()).filter(
            status__in=[JobStatus.PENDING, JobStatus.RUNNING]
        )
        counts = jobs.order_by().aggregate(
            running=Count("id", filter=Q(status=JobStatus.RUNNING)),
            pending=Count("id", filter=Q(status=JobStatus.PENDING)),
        )
        body = {
            "count": counts["running"] + counts["pending"],
            **counts,
            "jobs": jobs[:RUNNING_LIMIT],
        }
        return Response(RunningJobsSerializer(body, context={"request": request}).data)

    @extend_schema(responses=JobStatsSerializer, filters=True)
    @action(detail=False, methods=["get"], url_path="stats/summary")
    def stats_summary(self, request):
        return Response(summarize_jobs(self.filter_queryset(self.get_queryset())))
