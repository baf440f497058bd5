"""Request size limits for the API, answered with the standard JSON error and 413.

Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE only when it parses form bodies itself; DRF's
JSON parser reads the stream directly. Checking Content-Length up front covers both, before
any byte of an oversized body is read. Multipart uploads (files are streamed to disk) have
their own, larger cap.
"""

from django.conf import settings
from django.http import JsonResponse

from core.api.errors import error_body


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
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
