from django.contrib import admin
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from core.api.errors import json_or_default
from core.views.health import health, ready

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", health, name="health"),
    path("ready", ready, name="ready"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/", include("core.urls")),
    path("api/", include("product.urls")),
    path("api/", include("import_manager.urls")),
    path("api/", include("webhook.urls")),
    path("api/", include("scripts_runner.urls")),
]

handler400 = json_or_default(defaults.bad_request, "bad_request", "Bad request.", 400)
handler403 = json_or_default(defaults.permission_denied, "permission_denied", "Forbidden.", 403)
handler404 = json_or_default(defaults.page_not_found, "not_found", "Not found.", 404)
handler500 = json_or_default(defaults.server_error, "server_error", "Internal server error.", 500)
