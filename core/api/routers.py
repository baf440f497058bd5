from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    """Routes that match with or without a trailing slash (`/api/jobs/1/cancel` and
    `/api/jobs/1/cancel/`), so API clients never hit APPEND_SLASH redirects that drop a
    POST body."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trailing_slash = "/?"
