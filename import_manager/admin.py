"""Operator console for imports: the import page (upload, live progress, row errors) and
the list of past imports. The page uploads through /api/upload and follows the job on the
live stream /ws/jobs/; it holds no import logic of its own."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.models import Role
from core.services.job_access import can_view_job

from .models import ImportRun
from .services.parsers import EXTENSIONS
from .services.uploads import max_upload_bytes


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    change_list_template = "admin/import_manager/importrun/change_list.html"
    list_display = [
        "filename",
        "status",
        "progress_bar",
        "rows",
        "errors",
        "dry_run",
        "source",
        "owner",
        "created_at",
    ]
    list_filter = ["job__status", "source", "dry_run", "file_format"]
    search_fields = ["filename", "source_url", "job__owner__email"]
    list_select_related = ["job", "job__owner"]
    date_hierarchy = "created_at"
    list_per_page = 50

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        custom = [
            path(
                "new/", self.admin_site.admin_view(self.import_view), name="{}_{}_new".format(*info)
            ),
        ]
        return custom + super().get_urls()

    def has_add_permission(self, request):
        return False  # imports start from the import page ("New import")

    def has_change_permission(self, request, obj=None):
        return False

    def may_import(self, request) -> bool:
        user = request.user
        return user.is_active and user.is_staff and user.has_role(Role.OPERATOR)

    def import_view(self, request):
        """Upload a file and watch its import live."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return self._render(request, None)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = get_object_or_404(ImportRun.objects.select_related("job"), pk=object_id)
        if not self.has_view_permission(request, run) or not can_view_job(request.user, run.job):
            raise PermissionDenied
        return self._render(request, run)

    def _render(self, request, run):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Import {run.filename}" if run else "Import products",
            "run": run,
            "job_id": str(run.job_id) if run else "",
            "may_import": self.may_import(request),
            "accept": ",".join(sorted(EXTENSIONS)),
            "max_upload_mib": max_upload_bytes() // (1024 * 1024),
            "new_url": reverse("admin:import_manager_importrun_new"),
            "products_url": _products_url(),
        }
        return TemplateResponse(request, "admin/import_manager/import_page.html", context)

    @admin.display(description="status", ordering="job__status")
    def status(self, obj):
        return obj.job.status

    @admin.display(description="progress")
    def progress_bar(self, obj):
        return format_html(
            '<progress max="100" value="{}"></progress> {}%', obj.job.progress, obj.job.progress
        )

    @admin.display(description="rows")
    def rows(self, obj):
        return (obj.job.counters or {}).get("processed_rows", 0)

    @admin.display(description="errors")
    def errors(self, obj):
        return (obj.job.counters or {}).get("error_count", 0)

    @admin.display(description="owner")
    def owner(self, obj):
        return obj.job.owner or "—"


def _products_url() -> str:
    try:
        return reverse("admin:product_product_changelist")
    except Exception:  # noqa: BLE001 - the product admin may not be registered
        return ""
