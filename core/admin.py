"""Operator console: users with roles, and jobs with a live log page. The site itself (its
name, the home page's figures) is core.admin_site."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from core.exceptions import JobStateConflict
from core.models import Job, JobSchedule, User
from core.models.job import subject_label
from core.services.job_access import visible_jobs
from core.services.jobs import cancel_job, retry_job


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "role_name", "is_staff", "is_active"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "external_subject")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    @admin.display(description="role")
    def role_name(self, obj):
        return obj.role or "—"


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    change_form_template = "admin/core/job/change_form.html"
    list_display = [
        "short_id",
        "kind",
        "title",
        "status_badge",
        "progress_bar",
        "owner",
        "created_at",
        "duration",
    ]
    list_filter = ["status", "kind", "queue", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["id", "kind", "title", "owner__email"]
    date_hierarchy = "created_at"
    list_select_related = ["owner"]
    actions = ["cancel_selected", "retry_selected"]
    readonly_fields = [f.name for f in Job._meta.fields] + [
        "duration",
        "subject_label",
        "interruptions_summary",
    ]
    # The page opens on the progress bar and live log (the change form template); below them
    # what the operator reads, and the engine's own fields folded away.
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "kind",
                    "title",
                    "status",
                    "owner",
                    "subject_label",
                    ("created_at", "started_at"),
                    ("finished_at", "duration"),
                    "error",
                    "interruptions_summary",
                ]
            },
        ),
        (
            "Parameters and result",
            {"fields": ["params", "counters", "result", "checkpoint", "retry_of"]},
        ),
        (
            "Technical details",
            {
                "classes": ["collapse"],
                "fields": [
                    "id",
                    "celery_task_id",
                    "queue",
                    "worker",
                    "heartbeat_at",
                    "attempts",
                    "interruptions",
                    "cancel_requested",
                    "stop_requested",
                    "unsafe_section",
                    "subject_type",
                    "subject_id",
                    "progress",
                    "phase",
                    "log_line_count",
                ],
            },
        ),
    ]
    list_per_page = 50

    @admin.display(description="subject")
    def subject_label(self, obj):
        return subject_label(obj.subject_type, obj.subject_id) or "—"

    @admin.display(description="interrupted attempts")
    def interruptions_summary(self, obj):
        if not obj.interruptions:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            "attempt {}: {} during {} → {}",
            (
                (
                    item.get("attempt"),
                    item.get("reason"),
                    item.get("phase") or "start-up",
                    item.get("outcome"),
                )
                for item in obj.interruptions
            ),
        )

    def get_queryset(self, request):
        return visible_jobs(request.user)

    def has_add_permission(self, request):
        return False  # jobs are started by the features that own them

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    @admin.display(description="id")
    def short_id(self, obj):
        return str(obj.id)[:8]

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        colours = {
            "completed": "#2e7d32",
            "failed": "#c62828",
            "cancelled": "#6d6d6d",
            "running": "#1565c0",
            "pending": "#ef6c00",
        }
        return format_html(
            '<b style="color:{}">{}</b>', colours.get(obj.status, "#000"), obj.status
        )

    @admin.display(description="progress", ordering="progress")
    def progress_bar(self, obj):
        return format_html(
            '<progress max="100" value="{}"></progress> {}%', obj.progress, obj.progress
        )

    @admin.display(description="duration")
    def duration(self, obj):
        seconds = obj.duration_seconds
        return f"{seconds:.1f} s" if seconds is not None else "—"

    @admin.action(description="Cancel selected jobs")
    def cancel_selected(self, request, queryset):
        done = 0
        for job in queryset:
            try:
                cancel_job(job.pk)
                done += 1
            except JobStateConflict as exc:
                self.message_user(request, f"{job.pk}: {exc.message}", messages.WARNING)
        self.message_user(request, f"Cancellation requested for {done} job(s).")

    @admin.action(description="Retry selected jobs")
    def retry_selected(self, request, queryset):
        done = 0
        for job in queryset:
            try:
                retry_job(job.pk, owner=request.user)
                done += 1
            except JobStateConflict as exc:
                self.message_user(request, f"{job.pk}: {exc.message}", messages.WARNING)
        self.message_user(request, f"Started {done} retry job(s).")


@admin.register(JobSchedule)
class JobScheduleAdmin(admin.ModelAdmin):
    """Jobs that run on a schedule. Timing and pausing live on the linked periodic task."""

    list_display = ["kind", "subject_label", "timing", "enabled", "last_tick_at", "skipped_ticks"]
    list_filter = ["kind", "periodic_task__enabled"]
    list_select_related = ["periodic_task__interval", "periodic_task__crontab", "subject_type"]
    readonly_fields = [
        "kind",
        "subject_type",
        "subject_id",
        "periodic_task_link",
        "last_job",
        "last_tick_at",
        "skipped_ticks",
        "created_at",
    ]
    fields = [
        "kind",
        "subject_type",
        "subject_id",
        "title",
        "params",
        "owner",
        "periodic_task_link",
        "last_job",
        "last_tick_at",
        "skipped_ticks",
        "created_at",
    ]

    def has_add_permission(self, request):
        return False  # made by the features that schedule work (schedule_job)

    @admin.display(description="subject")
    def subject_label(self, obj):
        return subject_label(obj.subject_type, obj.subject_id) or "—"

    @admin.display(description="timing")
    def timing(self, obj):
        task = obj.periodic_task
        return str(task.interval or task.crontab or "—")

    @admin.display(boolean=True, description="enabled")
    def enabled(self, obj):
        return obj.periodic_task.enabled

    @admin.display(description="periodic task (timing, pause)")
    def periodic_task_link(self, obj):
        url = reverse("admin:django_celery_beat_periodictask_change", args=[obj.periodic_task_id])
        return format_html('<a href="{}">{}</a>', url, obj.periodic_task.name)
