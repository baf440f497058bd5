"""Who may see which jobs: owners see their own; staff and admins see all."""

from core.models import Job, Role


def sees_all_jobs(user) -> bool:
    return bool(user.is_staff or user.has_role(Role.ADMIN))


def visible_jobs(user):
    jobs = Job.objects.select_related("owner")
    return jobs if sees_all_jobs(user) else jobs.filter(owner=user)


def can_view_job(user, job: Job) -> bool:
    return sees_all_jobs(user) or (job.owner_id is not None and job.owner_id == user.pk)
