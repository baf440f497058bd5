"""API routes of the codes app (included under /api/ and /api/v1/ by config/urls.py)."""

from django.urls import include, path

from core.api.routers import OptionalSlashRouter

from .views import CodeViewSet

# With or without the trailing slash, as every router of the platform.
router = OptionalSlashRouter()
router.register("codes", CodeViewSet, basename="code")

urlpatterns = [
    path("", include(router.urls)),
]
