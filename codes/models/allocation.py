from django.conf import settings
from django.db import models
from django.db.models import Q

from ..rules import CODE_TYPE_MAX_LENGTH
from .code import Code


class CodeAllocation(models.Model):
    """One hand-out of a code by `allocate_code`, and what makes a retry return it again.

    Claimed in the same transaction as the code's UPDATE: the unique constraints on
    (code type, reference) and on the idempotency key let only one allocation per order (or
    per key) commit, whatever the concurrency.
    """

    code = models.OneToOneField(Code, on_delete=models.CASCADE, related_name="allocation")
    code_type = models.CharField(max_length=CODE_TYPE_MAX_LENGTH)
    reference = models.CharField(max_length=255, blank=True, default="")
    idempotency_key = models.CharField(max_length=255, blank=True, default="")
    allocated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    allocated_at = models.DateTimeField()

    class Meta:
        ordering = ["-allocated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["code_type", "reference"],
                condition=~Q(reference=""),
                name="codes_allocation_reference_unique",
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="codes_allocation_key_unique",
            ),
        ]

    def __str__(self):
        return f"{self.code_id} for {self.reference or self.idempotency_key or '-'}"
