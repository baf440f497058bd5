"""Thin Celery tasks of the email part (listed in CELERY_IMPORTS: the module is not tasks.py)."""

from celery import shared_task

from codes.services import email_delivery


@shared_task(name=email_delivery.RETRY_TASK, ignore_result=True)
def retry_email(email_id: int) -> None:
    """The countdown after a temporary failure: start the message's next attempt."""
    email_delivery.start_next_attempt(email_id)


@shared_task(name="codes.tasks_email.maintain_emails", ignore_result=True)
def maintain_emails() -> dict:
    """Beat: overdue retries started, messages of lost attempts closed."""
    return email_delivery.maintain_emails()
