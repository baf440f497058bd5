"""Domain exceptions shared by every app; the API error handler maps them to HTTP codes."""


class PlatformError(Exception):
    """Base class: `code` is the stable machine-readable error code, `status` the HTTP one."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields


class ConflictError(PlatformError):
    code = "conflict"
    status = 409


class JobStateConflict(ConflictError):
    code = "job_state_conflict"


class UnknownJobKind(PlatformError):
    code = "unknown_job_kind"


class JobCancelled(Exception):
    """Raised inside a running job when it must stop (a cancel, its time limit, ...)."""


class JobStopRequested(JobCancelled):
    """Raised at a safe point of a job whose worker is shutting down: it is re-queued."""
