from django.db import models

from core.models import Job


class ImportSource(models.TextChoices):
    UPLOAD = "upload", "Upload"
    URL = "url", "Feed URL"


class ImportRun(models.Model):
    """One catalog import: what was imported from where. Its status, progress and counters
    live on the core Job it belongs to (one source of truth for the jobs API and the live
    stream); this row adds the import's own facts and anchors the admin import pages."""

    job = models.OneToOneField(Job, primary_key=True, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255)
    file_format = models.CharField(max_length=16)
    source = models.CharField(max_length=16, choices=ImportSource.choices)
    source_url = models.URLField(max_length=2048, blank=True, default="")
    # Relative to settings.DATA_DIR; the file stays for a retry and goes with the job.
    stored_path = models.CharField(max_length=500, blank=True, default="")
    file_size = models.BigIntegerField(null=True, blank=True)
    dry_run = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "catalog import"

    def __str__(self):
        return f"{self.filename} ({self.job_id})"


class ImportRowError(models.Model):
    """A row of an import file that was reported and skipped (the first N of a job are kept,
    all are counted in the job's `error_count`). `row_number` counts data records from 1
    (the header is not a record); it is null for a problem with the file as a whole."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="+")
    row_number = models.BigIntegerField(null=True, blank=True)
    column = models.CharField(max_length=64, blank=True, default="")
    message = models.CharField(max_length=500)
    value = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["job", "row_number", "id"]
        indexes = [models.Index(fields=["job", "row_number"], name="import_rowerror_job_row")]

    def __str__(self):
        return f"row {self.row_number} {self.column}: {self.message}"
