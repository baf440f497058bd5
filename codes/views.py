"""Code API (seed 003): create, list, get (any case), update, allocate, mark used, revoke.

Thin: `codes.services` does the work.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from core.api.serializers import ErrorSerializer, optional_object_body
from core.exceptions import PlatformError

from .filters import CodeFilter
from .models import Code
from .serializers import (
    AllocateSerializer,
    AllocationSerializer,
    CodeCreateSerializer,
    CodeSerializer,
    CodeUpdateSerializer,
    MarkUsedSerializer,
    RevokeSerializer,
    StatusChangeSerializer,
)
from .services.allocation import allocate_code
from .services.codes import create_codes, find_code, mark_used, revoke, update_code

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
CODE_LOOKUP = r"[^/]+"

CODE_QUERYSET = Code.objects.select_related("used_by", "revoked_by", "created_by", "updated_by")


class CodeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Discount and access codes. Viewers read; operators create, change and hand them out.

    A code is addressed by its text, in any letter case (`/api/codes/summer-10` finds
    `SUMMER-10`). Codes are never consumed implicitly: only `allocate` and `mark-used` make
    one `used`.
    """

    queryset = CODE_QUERYSET
    serializer_class = CodeSerializer
    filterset_class = CodeFilter
    search_fields: list[str] = []  # the prefix filter searches (indexed), not SearchFilter
    ordering_fields: list[str] = []  # CodeFilter.ordering sorts
    lookup_field = "code"
    lookup_value_regex = CODE_LOOKUP

    def get_queryset(self):
        queryset = super().get_queryset()
        return queryset.order_by("-id") if self.action == "list" else queryset

    def get_object(self) -> Code:
        code = find_code(self.kwargs["code"], self.get_queryset())
        if code is None:
            raise Http404
        return code

    @extend_schema(
        request=CodeCreateSerializer,
        responses={201: CodeSerializer, 409: ErrorSerializer},
        description='One code (an object), or several: a list, or `{"codes": [...]}` (at most '
        "CODES_INLINE_CREATE_MAX; more go through create-codes). All or nothing; the answer "
        "has the request's shape.",
    )
    def create(self, request):
        items, shape = _creation_items(request.data)
        created = create_codes(_validated(items, shape), actor=request.user)
        data = CodeSerializer(created, many=True).data
        body = data[0] if shape == "one" else ({"codes": data} if shape == "wrapped" else data)
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=CodeUpdateSerializer,
        responses={200: CodeSerializer, 409: ErrorSerializer},
        description="Change the given properties (the others stay as they are).",
    )
    def update(self, request, code=None):
        serializer = CodeUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = update_code(self.get_object(), serializer.validated_data, actor=request.user)
        return Response(CodeSerializer(updated).data)

    @extend_schema(request=CodeUpdateSerializer, responses={200: CodeSerializer})
    def partial_update(self, request, code=None):
        return self.update(request, code=code)

    @extend_schema(
        request=AllocateSerializer,
        parameters=[
            OpenApiParameter("code_type", str, description="The type to allocate (required)."),
            OpenApiParameter("reference", str, description="What the code is for (order id)."),
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                location=OpenApiParameter.HEADER,
                description="The same key returns the same code, never a second one.",
            ),
        ],
        responses={
            200: AllocationSerializer,
            409: OpenApiResponse(ErrorSerializer, description="pool_empty, or a reused key."),
        },
    )
    @action(detail=False, methods=["post"])
    def allocate(self, request):
        """Take one available code of the type and mark it used, atomically."""
        body = AllocateSerializer(data=optional_object_body(request))
        body.is_valid(raise_exception=True)
        values = {**body.validated_data}
        for name in ("code_type", "reference"):
            if name not in values and name in request.query_params:
                values[name] = request.query_params[name]
        if not values.get("code_type"):
            raise PlatformError(
                "Say which type of code to allocate: ?code_type=discount.",
                fields={"code_type": ["This field is required."]},
            )
        allocation = allocate_code(
            values["code_type"],
            reference=values.get("reference", ""),
            idempotency_key=request.headers.get(IDEMPOTENCY_HEADER, ""),
            actor=request.user,
        )
        code = allocation.code
        answer = {
            "code": code.code,
            "id": code.id,
            "allocated_at": code.used_at,
            "code_type": code.code_type_id,
            "reference": code.reference,
            "discount_percent": code.discount_percent,
            "discount_amount": code.discount_amount,
            "expires_at": code.expires_at,
            "created": allocation.created,
        }
        response = Response(AllocationSerializer(answer).data)
        if not allocation.created:
            response[REPLAYED_HEADER] = "true"
        return response

    @extend_schema(
        request=MarkUsedSerializer,
        responses={200: StatusChangeSerializer, 409: ErrorSerializer},
        description="Mark the code used for a reference. Again for the same reference: a "
        "no-op (200, changed false); for another reference: 409 naming it.",
    )
    @action(detail=True, methods=["post"], url_path="mark-used")
    def mark_used(self, request, code=None):
        body = MarkUsedSerializer(data=optional_object_body(request))
        body.is_valid(raise_exception=True)
        change = mark_used(self.get_object(), **body.validated_data, actor=request.user)
        return _changed(change)

    @extend_schema(request=RevokeSerializer, responses={200: StatusChangeSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, code=None):
        """Revoke the code (with a reason); revoking it again is a no-op."""
        body = RevokeSerializer(data=optional_object_body(request))
        body.is_valid(raise_exception=True)
        change = revoke(self.get_object(), **body.validated_data, actor=request.user)
        return _changed(change)


def _changed(change) -> Response:
    code = change.code
    code.changed = change.changed
    return Response(StatusChangeSerializer(code).data)


def _validated(items: list, shape: str) -> list[dict]:
    """Each item validated; errors by position ("0", "1", ...) unless there is one object."""
    if shape == "one":
        serializer = CodeCreateSerializer(data=items[0])
        serializer.is_valid(raise_exception=True)
        return [serializer.validated_data]
    values, errors = [], {}
    for index, item in enumerate(items):
        serializer = CodeCreateSerializer(data=item)
        if serializer.is_valid():
            values.append(serializer.validated_data)
        else:
            errors[str(index)] = serializer.errors
    if errors:
        raise ValidationError(errors)
    return values


def _creation_items(data) -> tuple[list, str]:
    """The codes of a create request and its shape: "one", "many" (a list) or "wrapped"."""
    if isinstance(data, list):
        items, shape = data, "many"
    elif isinstance(data, dict) and "codes" in data and "code" not in data:
        if set(data) != {"codes"} or not isinstance(data["codes"], list):
            raise ValidationError({"codes": ['Send {"codes": [...]} with nothing beside it.']})
        items, shape = data["codes"], "wrapped"
    elif isinstance(data, dict):
        items, shape = [data], "one"
    else:
        raise ValidationError({"non_field_errors": ["Send a code object or a list of them."]})
    if not items:
        raise ValidationError({"codes": ["Send at least one code."]})
    limit = settings.CODES_INLINE_CREATE_MAX
    if len(items) > limit:
        raise ValidationError(
            {"codes": [f"At most {limit} codes per request; use create-codes for more."]}
        )
    return items, shape
