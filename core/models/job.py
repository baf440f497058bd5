import uuid

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


def subject_label(subject_type: ContentType | None, subject_id: str) -> str:
    """How a job's subject is named in logs and the admin: `app_label.model id`."""
    if subject_type is None:
        return ""
    return f"{subject_type.app_label}.{subject_type.model} {subject_id}"


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    """One background run of any kind: import, script, sync, enrichment.

    Created by `core.services.jobs.start_job`, executed by the `core.tasks.run_job` Celery
    task, which hands the domain handler a `JobContext` (log / progress / check_cancelled).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=64, db_index=True)
    title = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0)
    # Free-form phase text shown beside the progress bar ("parsing", "writing", ...).
    phase = models.CharField(max_length=64, blank=True, default="")
    counters = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )
    # The object the job works on (a supplier, a project, a code batch), if any. The id is
    # text so that integer and UUID primary keys both fit.
    subject_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject_id = models.CharField(max_length=64, blank=True, default="")
    subject = GenericForeignKey("subject_type", "subject_id")
    queue = models.CharField(max_length=32, default="default")
    attempts = models.PositiveIntegerField(default=0)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    celery_task_id = models.CharField(max_length=64, blank=True, default="")
    cancel_requested = models.BooleanField(default=False)
    # The worker process running the current attempt ("hostname pid 1234").
    worker = models.CharField(max_length=200, blank=True, default="")
    # Set when that worker shuts down: the job stops at its next safe point and is re-queued
    # (or failed, for a kind that is not safe to run again).
    stop_requested = models.BooleanField(default=False)
    # What the handler saved to resume from (ctx.save_checkpoint), kept across attempts.
    checkpoint = models.JSONField(default=dict, blank=True)
    # Set while an outside effect is in flight (ctx.unsafe_to_rerun): a lost worker then
    # never leads to a blind re-run.
    unsafe_section = models.CharField(max_length=200, blank=True, default="")
    # Attempts that ended without finishing: [{attempt, at, reason, phase, worker, outcome}].
    interruptions = models.JSONField(default=list, blank=True)
    log_line_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the job's task was last sent to the broker: a pending job not taken long after is
    # sent again (its message may have been lost with the broker's data).
    enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="core_job_owner_created"),
            models.Index(fields=["kind", "status"], name="core_job_kind_status"),
            models.Index(
                fields=["subject_type", "subject_id", "-created_at"],
                condition=models.Q(subject_type__isnull=False),
                name="core_job_subject",
            ),
            models.Index(
                fields=["heartbeat_at"],
                condition=models.Q(status="running"),
                name="core_job_running_heartbeat",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="core_job_progress_max_100"
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def group_name(self) -> str:
        """Channel-layer group that carries this job's live events."""
        return f"job_{self.id.hex}"


class JobLogLine(models.Model):
    """One line of a job's log, numbered from 1 so a live subscriber can detect gaps."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="log_lines")
    seq = models.PositiveIntegerField()
    line = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["job", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["job", "seq"], name="core_joblogline_job_seq_unique"),
        ]

    def __str__(self):
        return f"{self.job_id}#{self.seq}"
