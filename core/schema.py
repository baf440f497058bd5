"""The OpenAPI document (drf-spectacular): one schema class for every view, so the document
says what the API really does without each view repeating it.

`PlatformAutoSchema` adds to every operation:
- the error responses it can return, in the standard error shape: 400 (bad parameters or
  body), 401/403 (authenticated operations), 404 (objects named in the path, pages of
  lists), 413/415 (bodies: size limit, JSON only), 429 (rate limits, with `Retry-After`);
  responses a view declares itself (409, a specific 401...) are kept;
- `additionalProperties: false` on request bodies of StrictSerializer / StrictModelSerializer
  (unknown fields are refused with a 400);
- `format: uuid` on path parameters matched by a hex-and-dash pattern (the id of a job);
- the same operation under `/api/` and `/api/v1/` with the same tags; operation ids of the
  `/api/v1/` copies start with `v1_`.

`ConstrainedFilterExtension` adds to filter parameters the length limits their filters
enforce (a 2-character substring filter is refused, so the document says minLength 3).
"""

import re

from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.permissions import AllowAny

from core.api.serializers import ErrorSerializer, StrictFieldsMixin

V1_PREFIX = "/api/v1/"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# `[0-9a-fA-F-]{32,36}` and the like: a UUID with or without its dashes.
UUID_PATTERN = re.compile(r"\^?\[(0-9a-f|0-9A-F|0-9a-fA-F|a-f0-9|a-fA-F0-9)-?\]\{3[26](,36)?\}\$?")

ERROR_DESCRIPTIONS = {
    400: "Invalid input: `error.fields` names each problem (parameter or body field).",
    401: "Not authenticated, or the token is invalid or expired.",
    403: "Your role does not allow this (or a session request without its CSRF token).",
    404: "Not found: no such object, or a page past the last one.",
    413: "The request body is larger than allowed.",
    415: "The body is not JSON (or, for uploads, not multipart/form-data).",
    429: "Rate limit reached: retry after `Retry-After` seconds.",
}

RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    location=OpenApiParameter.HEADER,
    response=[429],
    description="Seconds until the request would be accepted.",
)


class PlatformAutoSchema(AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for status in self._error_statuses(operation):
            if str(status) not in responses:
                responses[str(status)] = self._error_response(status)
        operation["responses"] = dict(sorted(responses.items()))
        # Here rather than in get_operation_id: ids given with @extend_schema bypass that.
        if self.path.startswith(V1_PREFIX):
            operation["operationId"] = f"v1_{operation['operationId']}"
        return operation

    def get_override_parameters(self):
        return [*super().get_override_parameters(), RETRY_AFTER]

    def _error_statuses(self, operation) -> list[int]:
        has_body = self.method in BODY_METHODS
        locations = {parameter["in"] for parameter in operation.get("parameters", [])}
        statuses = []
        if has_body or locations & {"query", "path"}:
            statuses.append(400)
        if self._requires_authentication():
            statuses += [401, 403]
        if "path" in locations or (self.method == "GET" and self._is_list_view()):
            statuses.append(404)
        if has_body:
            statuses += [413, 415]
        if self.view.get_throttles():
            statuses.append(429)
        return statuses

    def _requires_authentication(self) -> bool:
        permissions = self.view.get_permissions()
        return bool(permissions) and not any(isinstance(p, AllowAny) for p in permissions)

    def _error_response(self, status: int) -> dict:
        response = OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status])
        return self._get_response_for_code(response, str(status), media_types=["application/json"])

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        strict = isinstance(force_instance(serializer), StrictFieldsMixin)
        if direction == "request" and strict and schema.get("type") == "object":
            schema["additionalProperties"] = False
        return schema

    def _resolve_path_parameters(self, variables):
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            schema = parameter["schema"]
            if UUID_PATTERN.fullmatch(schema.get("pattern", "")):
                schema.pop("pattern")
                schema["format"] = "uuid"
        return parameters


class ConstrainedFilterExtension(DjangoFilterExtension):
    """django-filter parameters with the `min_length` / `max_length` their filters enforce."""

    priority = 1  # over drf-spectacular's own extension for DjangoFilterBackend

    def resolve_filter_field(self, auto_schema, model, filterset_class, field_name, filter_field):
        parameters = super().resolve_filter_field(
            auto_schema, model, filterset_class, field_name, filter_field
        )
        limits = {"minLength": "min_length", "maxLength": "max_length"}
        for parameter in parameters:
            schema = parameter["schema"]
            target = schema.get("items", schema) if schema.get("type") == "array" else schema
            if target.get("type") != "string":
                continue
            for keyword, option in limits.items():
                if filter_field.extra.get(option) is not None:
                    target[keyword] = filter_field.extra[option]
        return parameters


class BearerTokenScheme(SimpleJWTScheme):
    """Documents BearerTokenAuthentication as the JWT bearer scheme it extends."""

    target_class = "core.auth.authentication.BearerTokenAuthentication"
    name = "jwtAuth"
