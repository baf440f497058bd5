"""OpenAPI (drf-spectacular) extensions for the core's authentication."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class BearerTokenScheme(SimpleJWTScheme):
    """Documents BearerTokenAuthentication as the JWT bearer scheme it extends."""

    target_class = "core.auth.authentication.BearerTokenAuthentication"
    name = "jwtAuth"
