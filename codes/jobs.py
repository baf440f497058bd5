"""The codes app's job kinds (auto-discovered by core in web and worker processes)."""

from core.services.job_kinds import declare_job_kind

#: One attempt at sending one EmailMessage (`params: {"email_id"}`). Not re-run after a
#: lost worker: the send is an outside effect (a 4xx schedules the next attempt itself).
EMAIL_SEND = declare_job_kind(
    "codes.send_email",
    handler="codes.services.email_delivery.run_email_job",
    queue="email",
    label="Send email",
    aliases=("email.send",),  # seed 003's job type
    timeout_seconds=300,
    detail="codes.services.email_delivery.email_job_detail",
)
