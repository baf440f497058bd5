from django.db import models


class SuspendedIndex(models.Model):
    """A secondary index of the product table dropped for a bulk load, to be built again.

    Written in the transaction that drops the index and deleted once the index is back,
    so a worker that dies in between leaves this row for the periodic restore to act on.
    """

    name = models.CharField(max_length=63, primary_key=True)
    definition = models.TextField(help_text="CREATE INDEX statement (pg_get_indexdef).")
    deferred = models.BooleanField(
        default=False,
        help_text="Built after the load by a follow-up job instead of before it ends.",
    )
    suspended_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["suspended_at", "name"]

    def __str__(self):
        return self.name
