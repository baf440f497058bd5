from django.conf import settings
from django.db import models

from core.models import TimeStampedModel


class BatchOperation(models.TextChoices):
    CREATE = "create", "Create codes"
    RENAME = "rename", "Rename codes"
    UPDATE_DISCOUNT = "update_discount", "Update discount"
    CSV_DIFF = "csv_diff", "Compare code lists"
    XLSX_TO_CSV = "xlsx_to_csv", "Convert XLSX to CSV"


class CodeBatch(TimeStampedModel):
    """One run of a bulk code tool: who started it, from what, and what came of it.

    It is the subject of its job (`start_job(..., subject=batch)`): a retry of the job works
    on the same batch, so what an earlier attempt committed is recognised, not repeated.
    Status and progress live on the job; this row keeps the outcome counts and the per-row
    result file, which survive a failed outside step (the Fienta CLI, Shopify).
    """

    operation = models.CharField(max_length=32, choices=BatchOperation.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: What the rows came from: a file name, "pattern PROMO-####", "filter", "list".
    source = models.CharField(max_length=255, blank=True, default="")
    #: The input file(s), relative to DATA_DIR.
    source_path = models.CharField(max_length=1000, blank=True, default="")
    dry_run = models.BooleanField(default=False)
    total_rows = models.PositiveIntegerField(default=0)
    #: Rows per outcome: {"created": 998, "taken": 1, "duplicate": 1}.
    counts = models.JSONField(default=dict, blank=True)
    #: Operation-specific facts (a diff's summary, Shopify's counts, the CLI's exit code).
    summary = models.JSONField(default=dict, blank=True)
    #: The per-row result file (CSV), relative to DATA_DIR.
    result_path = models.CharField(max_length=1000, blank=True, default="")
    #: When its change to the codes committed (null: not yet, or nothing to change).
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "code batch"
        verbose_name_plural = "code batches"

    def __str__(self):
        return f"{self.get_operation_display()} #{self.pk}"

    @property
    def staging_table(self) -> str:
        """The unlogged table the batch's rows are staged in while its job runs."""
        return f"codes_stage_{self.pk}"
