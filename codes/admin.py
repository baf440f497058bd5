"""Operator console of the codes app."""

from codes import admin_email  # noqa: F401  (the outbox and email templates)
