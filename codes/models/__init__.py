"""Models of the codes app (one module per model)."""

from .allocation import CodeAllocation
from .batch import BatchOperation, CodeBatch
from .code import Code, CodeStatus
from .code_type import CodeType
from .email import EmailMessage, EmailStatus, EmailTemplate
from .link import Link
from .link_click import DeviceType, LinkClick

__all__ = [
    "BatchOperation",
    "Code",
    "CodeAllocation",
    "CodeBatch",
    "CodeStatus",
    "CodeType",
    "DeviceType",
    "EmailMessage",
    "EmailStatus",
    "EmailTemplate",
    "Link",
    "LinkClick",
]
