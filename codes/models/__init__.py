"""Models of the codes app (one module per model)."""

from .allocation import CodeAllocation
from .batch import BatchOperation, CodeBatch
from .code import Code, CodeStatus
from .code_type import CodeType

__all__ = ["BatchOperation", "Code", "CodeAllocation", "CodeBatch", "CodeStatus", "CodeType"]
