from .base import TimeStampedModel
from .job import Job, JobLogLine, JobStatus
from .user import Role, User

__all__ = ["Job", "JobLogLine", "JobStatus", "Role", "TimeStampedModel", "User"]
