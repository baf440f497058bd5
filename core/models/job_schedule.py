from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models

from .job import subject_label


class JobSchedule(models.Model):
    """A job kind run periodically for one subject (or none): one per (kind, subject).

    Its timing lives on the django-celery-beat `PeriodicTask` it owns, so operators change
    the interval or crontab, or pause it, in the admin like any beat task; this row holds
    what the tick starts (kind, params, subject, owner). Made by
    `core.services.job_schedules.schedule_job`.
    """

    kind = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    title = models.CharField(max_length=255, blank=True, default="")
    subject_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    subject_id = models.CharField(max_length=64, blank=True, default="")
    subject = GenericForeignKey("subject_type", "subject_id")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", on_delete=models.CASCADE, related_name="job_schedule"
    )
    last_job = models.ForeignKey(
        "core.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_tick_at = models.DateTimeField(null=True, blank=True)
    #: Ticks skipped because the previous job of this schedule was still pending or running.
    skipped_ticks = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "subject_type", "subject_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_type", "subject_id"],
                nulls_distinct=False,
                name="core_jobschedule_one_per_kind_subject",
            ),
        ]

    def __str__(self):
        if self.subject_type_id:
            return f"{self.kind} for {subject_label(self.subject_type, self.subject_id)}"
        return self.kind
