"""Scripts API: list (by category), detail (parameters as JSON schema), execute (→ a Job)."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.serializers import ErrorSerializer

from .serializers import (
    ExecuteResponseSerializer,
    ExecuteScriptSerializer,
    ScriptDetailSerializer,
    ScriptListSerializer,
)
from .services.listing import script_detail, scripts_by_category_key
from .services.registry import UnknownScript
from .services.runs import parameters_from_items, start_script_run

JOB_CREATED = "Job created successfully"  # seed 000's words


class ScriptListView(APIView):
    """Registered scripts by category, as seed 000 shows: `{"data_import": [...],
    "data_processing": [...], "shopify": [...], "maintenance": [...], "workflows": [...]}`
    (viewers and up)."""

    @extend_schema(
        operation_id="scripts_list", responses={200: ScriptListSerializer}, tags=["scripts"]
    )
    def get(self, request):
        return Response(scripts_by_category_key())


class ScriptDetailView(APIView):
    """One script with its parameters, as a list and as a JSON schema to render a form."""

    @extend_schema(
        operation_id="scripts_retrieve",
        responses={200: ScriptDetailSerializer, 404: ErrorSerializer},
        tags=["scripts"],
    )
    def get(self, request, script_name):
        try:
            return Response(script_detail(script_name))
        except UnknownScript as exc:
            raise NotFound(str(exc)) from None


class ScriptExecuteView(APIView):
    """Validate the parameters and start a run (operators and up); 202 with the job's id
    and seed 000's message. Outputs not given go to the job's own folder.

    Every problem is reported at once, by parameter name, in `error.fields`.
    """

    throttle_scope = "bulk"

    @extend_schema(
        operation_id="scripts_execute",
        request=ExecuteScriptSerializer,
        responses={202: ExecuteResponseSerializer, 400: ErrorSerializer},
        tags=["scripts"],
        examples=[
            OpenApiExample(
                "seed 000's request (outputs go to the job's folder)",
                request_only=True,
                value={
                    "script_name": "filter_products",
                    "parameters": [
                        {"name": "input_file", "value": "/path/to/file.csv", "type": "file"}
                    ],
                },
            ),
            OpenApiExample(
                "filter_products with a SKU list and an output",
                request_only=True,
                value={
                    "script_name": "filter_products",
                    "parameters": [
                        {"name": "input_file", "value": "feeds/products.csv", "type": "file"},
                        {"name": "reference", "value": "sku_file", "type": "choice"},
                        {"name": "sku_file", "value": "feeds/skus.txt", "type": "file"},
                        {"name": "output_file", "value": "feeds/kept.csv", "type": "file"},
                    ],
                },
            ),
        ],
    )
    def post(self, request):
        serializer = ExecuteScriptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        values, types, duplicates = parameters_from_items(data["parameters"])
        job = start_script_run(
            data["script_name"],
            values,
            owner=request.user,
            declared_types=types,
            extra_errors=duplicates,
        )
        return Response(
            {
                "job_id": job.id,
                "message": JOB_CREATED,
                "script_name": data["script_name"],
            },
            status=status.HTTP_202_ACCEPTED,
        )
