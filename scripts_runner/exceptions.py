"""The script runner's errors (the API error handler maps them to HTTP codes)."""

from core.exceptions import PlatformError


class InvalidScriptParameters(PlatformError):
    """400: every problem of a launch, by parameter name."""

    code = "invalid_parameters"
