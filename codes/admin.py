"""Operator console of the codes app."""

from codes import admin_email, admin_links  # noqa: F401  (outbox, templates, short links)
