from .base import TimeStampedModel
from .job import Job, JobLogLine, JobStatus
from .job_schedule import JobSchedule
from .user import Role, User

__all__ = ["Job", "JobLogLine", "JobSchedule", "JobStatus", "Role", "TimeStampedModel", "User"]
