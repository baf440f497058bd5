"""Domain exceptions shared by every app; the API error handler maps them to HTTP codes."""


class PlatformError(Exception):
    """Base class: `code` is the stable machine-readable error code, `status` the HTTP one."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields


class PermissionDeniedError(PlatformError):
    code = "permission_denied"
    status = 403


class ConflictError(PlatformError):
    code = "conflict"
    status = 409


class JobStateConflict(ConflictError):
    code = "job_state_conflict"


class InvalidSchedule(PlatformError):
    code = "invalid_schedule"


class UnknownJobKind(PlatformError):
    code = "unknown_job_kind"


class InvalidCredentials(PlatformError):
    code = "invalid_credentials"
    status = 401


class OwnAdminAccess(ConflictError):
    """An admin tried to deactivate, demote or un-staff themselves."""

    code = "own_admin_access"


class LastActiveAdmin(ConflictError):
    """The change would leave the platform without an active admin."""

    code = "last_active_admin"


class SuperuserRole(ConflictError):
    code = "superuser_role"


class UnsafeURLError(PlatformError):
    """The URL is malformed or reaches an address outbound calls may not reach."""

    code = "unsafe_url"


class HostResolutionError(UnsafeURLError):
    """The host name did not resolve (a network condition: the caller may retry later)."""

    code = "unresolvable_host"


class JobCancelled(Exception):
    """Raised inside a running job when it must stop (a cancel, its time limit, ...)."""


class JobStopRequested(JobCancelled):
    """Raised at a safe point of a job whose worker is shutting down: it is re-queued."""


class UndecryptableSecret(PlatformError):
    """A stored secret none of FIELD_ENCRYPTION_KEYS opens (a key removed too early)."""

    code = "undecryptable_secret"
    status = 500
