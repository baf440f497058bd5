"""Operator console for scripts: the script catalog with past runs, and a launcher form per
script (rendered from its parameters) that starts a run and opens the job's live log page."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.models import Role
from core.services.job_access import sees_all_jobs

from .models import ScriptRun
from .services.credentials import credential_status
from .services.listing import scripts_grouped
from .services.parameters import TEXT, FilePathParam
from .services.registry import CATEGORIES, UnknownScript, Workflow, get_script
from .services.runs import InvalidScriptParameters, start_script_run

INPUT_TYPES = {"integer": "number", "decimal": "text", "date": "date", "url": "url"}


def launch_form(script, data=None):
    """A form rendered from the script's parameters. It only renders and keeps what was
    typed: the values are validated by the same service as the API and the CLI."""
    form = forms.Form(data=data)
    for param in script.parameters:
        common = {"label": param.label, "help_text": param.help, "required": False}
        if param.type_name == "boolean":
            field = forms.ChoiceField(
                choices=[("", "—"), ("true", "Yes"), ("false", "No")], **common
            )
            initial = "" if param.default is None else ("true" if param.default else "false")
        elif param.type_name == "choice":
            field = forms.ChoiceField(choices=[("", "—"), *param.choices], **common)
            initial = param.default or ""
        elif param.type_name == "multi_choice":
            field = forms.MultipleChoiceField(
                choices=param.choices, widget=forms.CheckboxSelectMultiple, **common
            )
            initial = param.default or []
        else:
            attrs = {"size": 60}
            if param.type_name in INPUT_TYPES:
                attrs["type"] = INPUT_TYPES[param.type_name]
            if isinstance(param, FilePathParam):
                attrs["placeholder"] = (
                    f"{param.output} in the job's folder"
                    if param.output
                    else "path inside the data directory"
                )
            field = forms.CharField(widget=forms.TextInput(attrs=attrs), strip=False, **common)
            initial = "" if param.default is None else str(param.default)
        field.initial = initial
        form.fields[param.name] = field
    return form


@admin.register(ScriptRun)
class ScriptRunAdmin(admin.ModelAdmin):
    change_list_template = "admin/scripts_runner/scriptrun/change_list.html"
    list_display = ["short_id", "script", "status_badge", "progress_bar", "owner", "created_at"]
    list_filter = ["status", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["id", "title", "owner__email"]
    list_select_related = ["owner"]
    list_per_page = 50

    def get_queryset(self, request):
        runs = ScriptRun.objects.select_related("owner")
        return runs if sees_all_jobs(request.user) else runs.filter(owner=request.user)

    def has_add_permission(self, request):
        return False  # runs are started from the launcher

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # job retention is the core's housekeeping

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A run's page is its job's page, which shows the live log.
        return HttpResponseRedirect(reverse("admin:core_job_change", args=[object_id]))

    @admin.display(description="id")
    def short_id(self, obj):
        url = reverse("admin:core_job_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, str(obj.pk)[:8])

    @admin.display(description="script")
    def script(self, obj):
        return obj.script_name

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        colours = {"completed": "#2e7d32", "failed": "#c62828", "running": "#1565c0"}
        return format_html(
            '<b style="color:{}">{}</b>', colours.get(obj.status, "#555"), obj.status
        )

    @admin.display(description="progress", ordering="progress")
    def progress_bar(self, obj):
        return format_html(
            '<progress max="100" value="{}"></progress> {}%', obj.progress, obj.progress
        )

    # -- the script catalog and the launcher ---------------------------------------------
    def get_urls(self):
        launch = path(
            "launch/<str:script_name>/",
            self.admin_site.admin_view(self.launch_view),
            name="scripts_runner_scriptrun_launch",
        )
        return [launch, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra = {
            "script_groups": [group for group in scripts_grouped() if group["scripts"]],
            "can_launch": self._can_launch(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=extra)

    @staticmethod
    def _can_launch(request) -> bool:
        return request.user.is_active and request.user.has_role(Role.OPERATOR)

    def launch_view(self, request, script_name):
        try:
            script = get_script(script_name)
        except UnknownScript:
            raise Http404(f"No script named {script_name}.") from None
        if not self.has_view_permission(request):
            raise PermissionDenied
        can_launch = self._can_launch(request)
        form = launch_form(script, request.POST if request.method == "POST" else None)
        if request.method == "POST":
            if not can_launch:
                raise PermissionDenied
            form.is_valid()  # renders the typed values back; validation is the service's
            values = {}
            for param in script.parameters:
                if param.type_name == "multi_choice":
                    values[param.name] = request.POST.getlist(param.name)
                else:
                    values[param.name] = request.POST.get(param.name, "")
            try:
                job = start_script_run(script.name, values, owner=request.user, source=TEXT)
            except InvalidScriptParameters as exc:
                for name, problems in (exc.fields or {}).items():
                    for problem in problems:
                        form.add_error(name if name in form.fields else None, problem)
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"Started {script.name}: job {job.pk}.")
                return HttpResponseRedirect(reverse("admin:core_job_change", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Run {script.name}",
            "script": script,
            "category_label": CATEGORIES[script.category],
            "is_workflow": issubclass(script, Workflow),
            "credentials": credential_status(script),
            "form": form,
            "can_launch": can_launch,
            "required": {param.name for param in script.parameters if param.required},
        }
        return TemplateResponse(request, "admin/scripts_runner/launch.html", context)
