"""API routes of the codes app (included under /api/ and /api/v1/ by config/urls.py)."""

from django.urls import include, path, re_path

from core.api.routers import OptionalSlashRouter

from .views import CodeViewSet
from .views_automation import (
    BatchJobViewSet,
    CreateCodesView,
    CsvDiffView,
    RenameCodesView,
    UpdateDiscountView,
    XlsxToCsvView,
)

# With or without the trailing slash, as every router of the platform.
router = OptionalSlashRouter()
router.register("codes", CodeViewSet, basename="code")
router.register("batch-jobs", BatchJobViewSet, basename="batch-job")

urlpatterns = [
    re_path(r"^automation/fienta/create-codes/?$", CreateCodesView.as_view(), name="create-codes"),
    re_path(r"^automation/fienta/rename-codes/?$", RenameCodesView.as_view(), name="rename-codes"),
    re_path(
        r"^automation/fienta/update-discount/?$",
        UpdateDiscountView.as_view(),
        name="update-discount",
    ),
    re_path(r"^automation/csv/diff/?$", CsvDiffView.as_view(), name="csv-diff"),
    re_path(r"^automation/xlsx-to-csv/?$", XlsxToCsvView.as_view(), name="xlsx-to-csv"),
    path("", include(router.urls)),
    path("", include("codes.urls_email")),  # POST /api/email/send, the outbox
    path("", include("codes.urls_links")),  # /api/links, /api/links/{id}/redirect
]
