"""The import app's errors (the API error handler maps them to HTTP codes)."""

from core.exceptions import PlatformError


class UploadTooLarge(PlatformError):
    code = "payload_too_large"
    status = 413


class UnsupportedImportFile(PlatformError):
    code = "unsupported_file"


class ImportFileError(PlatformError):
    """The file as a whole cannot be imported (wrong header, unreadable, unsupported)."""

    code = "import_file_error"


class FeedRefused(PlatformError):
    code = "url_refused"
