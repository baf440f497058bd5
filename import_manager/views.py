"""Import API: upload a file or a feed URL (202 + job), follow an import."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import PageNumberPagination
from core.api.serializers import ErrorSerializer
from core.filters import StrictBooleanField
from core.services.job_access import visible_jobs

from .jobs import CATALOG_IMPORT
from .models import ImportRun
from .serializers import (
    ImportSerializer,
    ImportStartedSerializer,
    UploadImportSerializer,
    UrlImportSerializer,
)
from .services.reports import import_report
from .services.runs import start_file_import, start_url_import
from .services.uploads import ImportUploadHandler

DRY_RUN_PARAM = OpenApiParameter(
    "dry_run", bool, description="Validate and count without writing (also a form field)."
)


UPLOAD_STARTED = "Upload started successfully"  # seed 004's words
FEED_IMPORT_STARTED = "Import started successfully"


def _started(job, filename, message: str) -> Response:
    body = {
        "job_id": job.id,
        "message": message,
        "status": job.status,
        "filename": filename,
        "status_url": f"/api/imports/{job.id}",
    }
    return Response(ImportStartedSerializer(body).data, status=status.HTTP_202_ACCEPTED)


def _with_query_dry_run(request, data: dict) -> dict:
    """`?dry_run=true` when the body does not say: read as the boolean filters read theirs."""
    if "dry_run" not in data and request.query_params.get("dry_run", "") != "":
        try:
            data["dry_run"] = StrictBooleanField().to_python(request.query_params["dry_run"])
        except DjangoValidationError as exc:
            raise ValidationError({"dry_run": exc.messages}) from None
    return data


class UploadImportView(APIView):
    """Upload a product file; it is imported by a worker (202 + job id at once)."""

    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = "uploads"

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body (the CSRF check of session users does): the file
        # streams to DATA_DIR/uploads with the size and type checks.
        self.upload_handler = ImportUploadHandler(request)
        request.upload_handlers = [self.upload_handler]
        return super().initialize_request(request, *args, **kwargs)

    def handle_exception(self, exc):
        self.upload_handler.discard_all()  # a refused request leaves no file behind
        return super().handle_exception(exc)

    @extend_schema(
        request={"multipart/form-data": UploadImportSerializer},
        parameters=[DRY_RUN_PARAM],
        responses={202: ImportStartedSerializer, 400: ErrorSerializer, 413: ErrorSerializer},
    )
    def post(self, request):
        data = {key: request.data[key] for key in request.data}
        serializer = UploadImportSerializer(data=_with_query_dry_run(request, data))
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        job = start_file_import(
            upload.path,
            filename=upload.name,
            file_format=upload.file_format,
            owner=request.user,
            dry_run=serializer.validated_data["dry_run"],
        )
        return _started(job, upload.name, UPLOAD_STARTED)


class UrlImportView(APIView):
    """Import a product feed URL (public addresses only); 202 + job id at once."""

    throttle_scope = "uploads"

    @extend_schema(
        request=UrlImportSerializer,
        parameters=[DRY_RUN_PARAM],
        responses={202: ImportStartedSerializer, 400: ErrorSerializer},
    )
    def post(self, request):
        data = dict(request.data.items()) if hasattr(request.data, "items") else {}
        serializer = UrlImportSerializer(data=_with_query_dry_run(request, data))
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        job = start_url_import(
            values["url"],
            owner=request.user,
            dry_run=values["dry_run"],
            file_format=values.get("format"),
        )
        return _started(job, ImportRun.objects.get(job=job).filename, FEED_IMPORT_STARTED)


class ImportViewSet(viewsets.ViewSet):
    """Catalog imports: status, counters and row errors (first 1,000) of each."""

    pagination_class = PageNumberPagination  # the list is paged (documents it in the schema)

    def _jobs(self):
        return visible_jobs(self.request.user).filter(kind=CATALOG_IMPORT.name)

    @extend_schema(responses=ImportSerializer(many=True))
    def list(self, request):
        jobs = self._jobs().order_by("-created_at")
        page = self.paginator.paginate_queryset(jobs, request, view=self)
        runs = ImportRun.objects.in_bulk([job.pk for job in page])
        data = [import_report(job, with_errors=False, run=runs.get(job.pk)) for job in page]
        return self.paginator.get_paginated_response(ImportSerializer(data, many=True).data)

    @extend_schema(responses={200: ImportSerializer, 404: ErrorSerializer})
    def retrieve(self, request, pk=None):
        job = get_object_or_404(self._jobs(), pk=pk)
        return Response(ImportSerializer(import_report(job)).data)

    @property
    def paginator(self):
        if not hasattr(self, "_paginator"):
            from core.api.pagination import PageNumberPagination

            self._paginator = PageNumberPagination()
        return self._paginator
