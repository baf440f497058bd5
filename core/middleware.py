"""API request guards that must act before a view reads the body, answered with the standard
JSON error.

- RequestSizeLimitMiddleware: 413 for bodies over the limits. Django enforces
  DATA_UPLOAD_MAX_MEMORY_SIZE only when it parses form bodies itself; DRF's JSON parser reads
  the stream directly. Checking Content-Length up front covers both, before any byte of an
  oversized body is read. Multipart uploads (files are streamed to disk) have their own,
  larger cap.
- FormBodyMiddleware: 415 for a form-encoded body sent to a view that parses JSON only.
"""

from django.conf import settings
from django.http import JsonResponse
from rest_framework.request import is_form_media_type
from rest_framework.utils.mediatypes import media_type_matches

from core.api.errors import error_body

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_api_path(request.path):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            is_multipart = request.META.get("CONTENT_TYPE", "").startswith("multipart/")
            limit = (
                settings.MAX_UPLOAD_BYTES
                if is_multipart
                else (settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
            )
            if limit is not None and length > limit:
                return JsonResponse(
                    error_body(
                        "payload_too_large",
                        f"The request body ({length} bytes) exceeds the limit of {limit} bytes.",
                    ),
                    status=413,
                )
        return self.get_response(request)


def view_parser_classes(view_func) -> list | None:
    """The parser classes of a DRF view function (an @action's own ones first); None for a
    view that is not DRF's."""
    view_class = getattr(view_func, "cls", None)
    if view_class is None or not hasattr(view_class, "parser_classes"):
        return None
    initkwargs = getattr(view_func, "initkwargs", None) or {}
    return list(initkwargs.get("parser_classes", view_class.parser_classes))


class FormBodyMiddleware:
    """Refuses form-encoded bodies (urlencoded, multipart) where the view parses JSON only.

    DRF refuses an unparseable content type only when the view reads a non-empty body: an
    empty form body slips through as an empty QueryDict, and DRF reads absent form booleans
    as false (`PUT /api/auth/users/{id}/` with an empty form body would deactivate the user).
    Views that take files declare the multipart parser and are let through.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method not in BODY_METHODS or not is_api_path(request.path):
            return None
        content_type = request.META.get("CONTENT_TYPE", "")
        if not is_form_media_type(content_type):
            return None
        parsers = view_parser_classes(view_func)
        if parsers is None or any(
            media_type_matches(parser.media_type, content_type) for parser in parsers
        ):
            return None
        media_type = content_type.split(";", 1)[0].strip()
        return JsonResponse(
            error_body(
                "unsupported_media_type",
                f'Unsupported media type "{media_type}" in request: send JSON '
                "(Content-Type: application/json).",
            ),
            status=415,
        )
