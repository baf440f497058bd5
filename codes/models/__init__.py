"""Models of the codes app (one module per model)."""

from .email import EmailMessage, EmailStatus, EmailTemplate

__all__ = ["EmailMessage", "EmailStatus", "EmailTemplate"]
