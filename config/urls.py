from django.contrib import admin
from django.urls import include, path, re_path
from django.views import defaults
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from codes.views_links import redirect_link
from core.api.errors import json_or_default
from core.views.health import health, ready

# The API, served under /api/ and, for seed 002's clients, the same views under /api/v1/.
# URL names belong to /api/ (reverse("job-list") is /api/jobs/); "v1:job-list" is /api/v1/jobs/.
api_urlpatterns = [
    path("", include("core.urls")),
    path("", include("product.urls")),
    path("", include("import_manager.urls")),
    path("", include("webhook.urls")),
    path("", include("scripts_runner.urls")),
    path("", include("codes.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    # Short links' public address (codes); answered first by codes.asgi_links under ASGI.
    re_path(r"^l/(?P<short_id>[A-Za-z0-9_-]{1,64})/?$", redirect_link, name="link-redirect"),
    path("health", health, name="health"),
    path("ready", ready, name="ready"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Seed 002's address of the document (JSON); /api/schema/ is seed 004's (YAML or JSON).
    path("api/openapi.json", SpectacularJSONAPIView.as_view(), name="schema-json"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/v1/", include((api_urlpatterns, "v1"))),
    path("api/", include(api_urlpatterns)),
]

handler400 = json_or_default(defaults.bad_request, "bad_request", "Bad request.", 400)
handler403 = json_or_default(defaults.permission_denied, "permission_denied", "Forbidden.", 403)
handler404 = json_or_default(defaults.page_not_found, "not_found", "Not found.", 404)
handler500 = json_or_default(defaults.server_error, "server_error", "Internal server error.", 500)
