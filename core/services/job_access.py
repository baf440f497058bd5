"""Who may see which jobs, and how much of them.

Owners see their own jobs; staff and admins may see every job (the jobs list shows one's own
unless they ask for more, with `owner`). A failed job's traceback is for staff only.
"""

import re

from core.exceptions import PermissionDeniedError, PlatformError
from core.models import Job, Role, User

OWNER_ALL = "all"
OWNER_ME = "me"
MAX_USER_ID = 2**63 - 1  # bigint
MAX_OWNER_LENGTH = 254  # an email's
# What `owner` may be (the OpenAPI document says so too): empty, me, all, an id, an email.
OWNER_PATTERN = r"^(|me|all|[0-9]+|[^@\x00]*@[^\x00]*)$"
# How core.services.jobs records a failure: "<Type>: <message>\n\n<traceback.format_exc()>".
TRACEBACK_START = "\n\nTraceback (most recent call last):"


def sees_all_jobs(user) -> bool:
    return bool(user.is_staff or user.has_role(Role.ADMIN))


def visible_jobs(user):
    """Every job `user` may open: their own, or all for staff."""
    jobs = Job.objects.select_related("owner", "subject_type")
    return jobs if sees_all_jobs(user) else jobs.filter(owner=user)


def can_view_job(user, job: Job) -> bool:
    return sees_all_jobs(user) or (job.owner_id is not None and job.owner_id == user.pk)


def listed_jobs(user, owner: str | None = None):
    """The jobs a list shows `user`: their own by default (`owner` empty or `me`); staff may
    ask for everyone's (`all`) or one user's (an email or a user id). Anyone may name
    themselves; naming someone else without being staff is refused (403)."""
    owner = owner or ""
    jobs = Job.objects.select_related("owner", "subject_type")
    if owner in ("", OWNER_ME):
        return jobs.filter(owner=user)
    if owner == OWNER_ALL:
        if not sees_all_jobs(user):
            raise PermissionDeniedError(
                "Only staff may list everyone's jobs.",
                fields={"owner": ["Only staff may list everyone's jobs."]},
            )
        return jobs
    owner_id = _owner_id(owner)
    if owner_id != user.pk and not sees_all_jobs(user):
        raise PermissionDeniedError(
            "Only staff may list other users' jobs.",
            fields={"owner": ["Only staff may list other users' jobs."]},
        )
    return jobs.filter(owner_id=owner_id) if owner_id is not None else jobs.none()


def _owner_id(owner: str) -> int | None:
    """The user id an `owner` value names (None when there is no such user)."""
    if len(owner) > MAX_OWNER_LENGTH or not re.fullmatch(OWNER_PATTERN, owner):
        raise PlatformError(
            "owner must be 'me', 'all', an email or a user id.",
            fields={"owner": ["Enter 'me', 'all', an email address or a user id."]},
        )
    if owner.isdigit():
        return int(owner) if int(owner) <= MAX_USER_ID else None
    return User.objects.filter(email__iexact=owner).values_list("pk", flat=True).first()


def split_job_error(error: str) -> tuple[str, str | None]:
    """A job's `error` text as (message, traceback or None)."""
    message, marker, rest = (error or "").partition(TRACEBACK_START)
    return message, (marker.lstrip("\n") + rest) if marker else None
