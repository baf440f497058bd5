"""Operator console of the codes app."""

from codes import admin_codes, admin_email, admin_links  # noqa: F401  (codes, outbox, links)
