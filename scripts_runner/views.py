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
from .services.listing import script_detail, scripts_grouped
from .services.registry import UnknownScript
from .services.runs import parameters_from_items, start_script_run


class ScriptListView(APIView):
    """Registered scripts, grouped by category (viewers and up)."""

    @extend_schema(
        operation_id="scripts_list", responses={200: ScriptListSerializer}, tags=["scripts"]
    )
    def get(self, request):
        return Response({"categories": scripts_grouped()})


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
    """Validate the parameters and start a run (operators and up); 202 with the job's id.

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
                "filter_products",
                request_only=True,
                value={
                    "script_name": "filter_products",
                    "parameters": [
                        {"name": "input_file", "value": "feeds/products.csv", "type": "file_path"},
                        {"name": "reference", "value": "catalog", "type": "choice"},
                        {"name": "output_file", "value": "feeds/kept.csv", "type": "file_path"},
                    ],
                },
            )
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
                "message": f"Script '{data['script_name']}' queued; follow it at /ws/jobs/.",
                "script_name": data["script_name"],
            },
            status=status.HTTP_202_ACCEPTED,
        )
