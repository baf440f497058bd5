from django.db import models


class TimeStampedModel(models.Model):
    """Abstract base for domain models: creation and update times (UTC)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
