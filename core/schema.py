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
from decimal import Decimal

from django_filters.fields import IsoDateTimeField
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from core.api.serializers import ErrorSerializer, StrictFieldsMixin

V1_PREFIX = "/api/v1/"
# Request strings: DRF refuses NUL characters in every CharField, and (trimming whitespace) a
# string of only whitespace where blanks are not allowed. Unanchored patterns, so written as
# whole-string ones. No look-arounds: generators from the document must understand them.
NO_NUL_PATTERN = r"^[^\x00]*$"
NOT_BLANK_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"
# A date-time whose UTC offset PostgreSQL can store (core.filters.MAX_UTC_OFFSET).
STORABLE_OFFSET_PATTERN = r"(?:[Zz]|[+-](?:0\d|1[0-5]):?[0-5]\d)$"
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
        for parameter in operation.get("parameters", []):
            # Every optional query parameter given empty (`?status=`) means "not given".
            # (Not lists of choices: `?status=` names the empty choice, refused.)
            optional = parameter["in"] == "query" and not parameter.get("required")
            if optional and parameter.get("schema", {}).get("type") != "array":
                parameter["allowEmptyValue"] = True
            schema = parameter.get("schema", {})
            plain_text = not any(key in schema for key in ("pattern", "format", "enum"))
            if parameter["in"] == "query" and schema.get("type") == "string" and plain_text:
                schema["pattern"] = NO_NUL_PATTERN  # refused in every query parameter
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
        if direction == "request" and schema.get("type") == "object":
            fields = getattr(force_instance(serializer), "fields", {})
            for name, prop in schema.get("properties", {}).items():
                if name in fields:
                    describe_request_value(fields[name], prop)
        return schema

    def _resolve_path_parameters(self, variables):
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            schema = parameter["schema"]
            if UUID_PATTERN.fullmatch(schema.get("pattern", "")):
                schema.pop("pattern")
                schema["format"] = "uuid"
        return parameters


def decimal_pattern(field: serializers.DecimalField) -> str:
    """The strings `field` accepts: digits (whole part within max_digits - decimal_places),
    optionally a point and up to decimal_places more; a sign only where negatives are allowed."""
    places = field.decimal_places or 0
    whole = (field.max_digits - places) if field.max_digits is not None else None
    whole_digits = rf"\d{{1,{whole}}}" if whole else (r"0" if whole == 0 else r"\d+")
    fraction = rf"(?:\.\d{{1,{places}}})?" if places else ""
    minimum = field.min_value
    sign = "" if minimum is not None and minimum >= 0 else "-?"
    return rf"^{sign}{whole_digits}{fraction}$"


def describe_decimal(field: serializers.DecimalField, prop: dict) -> None:
    """A decimal in a request: a string of digits, or a JSON number within its range."""
    string = {"type": "string", "format": "decimal", "pattern": decimal_pattern(field)}
    if field.max_digits is None or field.max_digits > 15:
        prop.update(string)  # a float could not carry every digit: strings only
        return
    number = {"type": "number"}
    places = field.decimal_places or 0
    if field.max_digits is not None:
        largest = Decimal(10) ** (field.max_digits - places) - Decimal(10) ** -places
        number.update(minimum=float(-largest), maximum=float(largest))
    if field.min_value is not None:
        number["minimum"] = float(field.min_value)
    if field.max_value is not None:
        number["maximum"] = float(field.max_value)
    kept = {key: prop[key] for key in ("title", "description", "nullable") if key in prop}
    prop.clear()
    prop.update(oneOf=[string, number], **kept)


def describe_request_value(field, prop: dict) -> None:
    """Say in the document what the field refuses (core.api.serializers.type_error and DRF's
    own checks), so that a request the document allows is accepted."""
    if not isinstance(prop, dict) or "$ref" in prop or prop.get("readOnly"):
        return
    if isinstance(field, serializers.DecimalField) and prop.get("type") == "string":
        describe_decimal(field, prop)
        return
    if isinstance(field, serializers.CharField) and prop.get("type") == "string":
        if any(key in prop for key in ("pattern", "format", "enum")):
            return
        blank_refused = not field.allow_blank and field.trim_whitespace
        prop["pattern"] = NOT_BLANK_PATTERN if blank_refused else NO_NUL_PATTERN
        return
    if isinstance(field, serializers.ListField | serializers.ManyRelatedField):
        if prop.get("type") == "array":
            if not field.allow_empty and "minItems" not in prop:
                prop["minItems"] = 1
            child = getattr(field, "child", None) or getattr(field, "child_relation", None)
            if child is not None:
                describe_request_value(child, prop.get("items"))
        return
    if isinstance(field, serializers.DictField) and prop.get("type") == "object":
        describe_request_value(field.child, prop.get("additionalProperties"))


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
            if issubclass(filter_field.field_class, IsoDateTimeField):
                target["pattern"] = STORABLE_OFFSET_PATTERN
            if target.get("type") in ("integer", "number"):
                target.update(numeric_limits(filter_field.field))
            if target.get("type") != "string":
                continue
            for keyword, option in limits.items():
                if filter_field.extra.get(option) is not None:
                    target[keyword] = filter_field.extra[option]
            pattern = getattr(filter_field, "schema_pattern", None) or regex_of(filter_field)
            if pattern and "pattern" not in target:
                target["pattern"] = pattern
        return parameters


def numeric_limits(form_field) -> dict:
    """`minimum` / `maximum` of a number filter, from its form field's limit validators
    (django-filter's NumberFilter refuses more than 1e50 that way)."""
    from django.core.validators import MaxValueValidator, MinValueValidator

    limits = {}
    for validator in form_field.validators:
        if isinstance(validator, MinValueValidator):
            limits["minimum"] = validator.limit_value
        elif isinstance(validator, MaxValueValidator):
            limits["maximum"] = validator.limit_value
    return {key: value if isinstance(value, int) else float(value) for key, value in limits.items()}


def regex_of(filter_field) -> str | None:
    """The pattern a filter's RegexValidator enforces, if it has one."""
    from django.core.validators import RegexValidator

    for validator in filter_field.extra.get("validators", []):
        if isinstance(validator, RegexValidator) and not validator.inverse_match:
            return validator.regex.pattern
    return None


class BearerTokenScheme(SimpleJWTScheme):
    """Documents BearerTokenAuthentication as the JWT bearer scheme it extends."""

    target_class = "core.auth.authentication.BearerTokenAuthentication"
    name = "jwtAuth"
