"""Models of the codes app (one module per model)."""

from .email import EmailMessage, EmailStatus, EmailTemplate
from .link import Link
from .link_click import DeviceType, LinkClick

__all__ = ["DeviceType", "EmailMessage", "EmailStatus", "EmailTemplate", "Link", "LinkClick"]
