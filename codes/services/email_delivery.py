"""Sending queued emails: one `email.send` job per attempt, exactly once.

An attempt claims the message (queued/retrying → sending, committed before anything is
sent, so a second job for the same message finds nothing to do), sends it with Django's
configured email backend inside `ctx.unsafe_to_rerun` (a worker lost mid-send fails the
job instead of re-running it, and the message ends `failed`, outcome unknown), then records
the outcome:

- accepted: `sent`;
- a temporary failure (an SMTP 4xx, no connection, a timeout): `retrying`, the next attempt
  in min(BASE * FACTOR ** (n - 1), MAX) seconds (EMAIL_RETRY_*), up to EMAIL_MAX_ATTEMPTS;
  it is a new `email.send` job (`retry_of` the previous one) started by a Celery countdown
  published after commit, with the beat task `maintain_emails` as the safety net;
- a permanent failure (an SMTP 5xx, a refused configuration): `failed` at once, with the
  server's reply.

Every message has the same Message-ID on every attempt, so the receiving side can tell a
retry from a second email.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.html import strip_tags

from codes.exceptions import EmailAttemptFailed, EmailStateConflict
from codes.models import EmailMessage, EmailStatus
from core.models import Job, JobStatus
from core.models.job import TERMINAL_STATUSES

from .email import start_attempt_job

logger = logging.getLogger(__name__)

#: The Celery task that starts a message's next attempt (codes/tasks_email.py), by name.
RETRY_TASK = "codes.tasks_email.retry_email"
REPLY_LIMIT = 2000


@dataclass(frozen=True)
class SendOutcome:
    sent: bool
    temporary: bool = False
    smtp_code: int | None = None
    reply: str = ""


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based)."""
    delay = settings.EMAIL_RETRY_BASE_DELAY * settings.EMAIL_RETRY_BACKOFF_FACTOR ** (attempt - 1)
    return min(delay, settings.EMAIL_RETRY_MAX_DELAY)


# --- the job ---------------------------------------------------------------------------------


def run_email_job(ctx) -> dict:
    """The `email.send` job: one attempt at sending `params.email_id`."""
    email_id = ctx.params["email_id"]
    message = _claim(email_id, ctx.job.pk)
    if message is None:
        current = EmailMessage.objects.filter(pk=email_id).values_list("status", flat=True).first()
        ctx.log(f"Email {email_id} is {current or 'gone'}: nothing to send by this job.")
        return {"email_id": email_id, "status": current or "missing", "sent_by_this_job": False}
    ctx.log(
        f"Attempt {message.attempts} of {message.max_attempts}: sending email {message.pk} "
        f"({message.message_id}) to {len(message.recipients)} recipient(s) "
        f"with {settings.EMAIL_BACKEND.rsplit('.', 2)[-2]} backend."
    )
    with ctx.unsafe_to_rerun(f"sending email {message.pk}"):
        outcome = deliver(message)
    record_outcome(message, outcome)
    if outcome.sent:
        ctx.log("Accepted by the server.")
        return {
            "email_id": message.pk,
            "status": EmailStatus.SENT,
            "message_id": message.message_id,
            "attempts": message.attempts,
        }
    ctx.log(f"Not sent: {outcome.reply}")
    if message.status == EmailStatus.RETRYING:
        ctx.log(f"Temporary failure: attempt {message.attempts + 1} at {message.next_attempt_at}.")
        raise EmailAttemptFailed(
            f"SMTP {outcome.smtp_code or '-'}: {outcome.reply} (temporary; attempt "
            f"{message.attempts + 1} of {message.max_attempts} at "
            f"{message.next_attempt_at.isoformat()})"
        )
    raise EmailAttemptFailed(
        f"SMTP {outcome.smtp_code or '-'}: {outcome.reply} (failed for good after "
        f"{message.attempts} attempt(s))"
    )


def email_job_detail(job: Job) -> dict:
    """What `GET /api/jobs/{id}` adds for an email job: the message's state."""
    message = EmailMessage.objects.filter(pk=job.params.get("email_id")).first()
    if message is None:
        return {}
    return {
        "email": {
            "id": message.pk,
            "status": message.status,
            "to": message.to,
            "subject": message.subject,
            "message_id": message.message_id,
            "attempts": message.attempts,
            "next_attempt_at": message.next_attempt_at,
            "sent_at": message.sent_at,
            "error": message.error,
        }
    }


def _claim(email_id: int, job_id) -> EmailMessage | None:
    """queued/retrying → sending, committed at once (the job runs outside a transaction)."""
    claimed = EmailMessage.objects.filter(
        pk=email_id, status__in=[EmailStatus.QUEUED, EmailStatus.RETRYING]
    ).update(
        status=EmailStatus.SENDING,
        attempts=F("attempts") + 1,
        last_attempt_at=timezone.now(),
        next_attempt_at=None,
        job_id=job_id,
        updated_at=timezone.now(),
    )
    return EmailMessage.objects.get(pk=email_id) if claimed else None


# --- sending ---------------------------------------------------------------------------------


def build_message(message: EmailMessage, connection=None) -> EmailMultiAlternatives:
    text = message.text_body or strip_tags(message.html_body)
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=text,
        from_email=message.from_email,
        to=message.to,
        cc=message.cc,
        bcc=message.bcc,
        reply_to=message.reply_to,
        headers={"Message-ID": message.message_id},
        connection=connection,
    )
    if message.html_body:
        email.attach_alternative(message.html_body, "text/html")
    return email


def deliver(message: EmailMessage) -> SendOutcome:
    """Hand the message to the configured backend; never raises (the outcome says)."""
    try:
        connection = get_connection(fail_silently=False)
        sent = connection.send_messages([build_message(message, connection)])
    except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded outcome
        return classify_failure(exc)
    if not sent:
        return SendOutcome(sent=False, temporary=True, reply="The backend sent nothing.")
    return SendOutcome(sent=True)


def classify_failure(exc: BaseException) -> SendOutcome:
    """Temporary (retry) or permanent (fail now), with the server's code and reply."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = {rcpt: (code, _text(text)) for rcpt, (code, text) in exc.recipients.items()}
        codes = [code for code, _ in replies.values()]
        temporary = bool(codes) and all(400 <= code < 500 for code in codes)
        reply = "; ".join(f"{rcpt}: {code} {text}" for rcpt, (code, text) in replies.items())
        return SendOutcome(False, temporary, max(codes) if codes else None, _cut(reply))
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        reply = f"{code} {_text(exc.smtp_error)}"
        return SendOutcome(
            False, 400 <= code < 500 or code < 0, code if code > 0 else None, _cut(reply)
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SendOutcome(False, False, None, _cut(f"Server does not support it: {exc}"))
    if isinstance(exc, OSError):  # no connection, a timeout, a dropped connection
        return SendOutcome(False, True, None, _cut(f"{type(exc).__name__}: {exc}"))
    return SendOutcome(False, False, None, _cut(f"{type(exc).__name__}: {exc}"))


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _cut(text: str) -> str:
    return " ".join(text.split())[:REPLY_LIMIT]


def record_outcome(message: EmailMessage, outcome: SendOutcome) -> None:
    """Store the attempt's outcome; a temporary failure with attempts left schedules the next
    attempt (published after commit)."""
    now = timezone.now()
    entry = {
        "attempt": message.attempts,
        "at": now.isoformat(),
        "outcome": "sent" if outcome.sent else ("temporary" if outcome.temporary else "permanent"),
        "smtp_code": outcome.smtp_code,
        "reply": outcome.reply,
    }
    message.history = [*message.history, entry]
    if outcome.sent:
        message.status, message.sent_at = EmailStatus.SENT, now
        message.error, message.smtp_code = "", None
    elif outcome.temporary and message.attempts < message.max_attempts:
        delay = retry_delay(message.attempts)
        message.status = EmailStatus.RETRYING
        message.next_attempt_at = now + timedelta(seconds=delay)
        message.error, message.smtp_code = outcome.reply, outcome.smtp_code
    else:
        message.status = EmailStatus.FAILED
        message.error, message.smtp_code = outcome.reply, outcome.smtp_code
        if outcome.temporary:
            message.error = f"{outcome.reply} (gave up after {message.attempts} attempts)"
    with transaction.atomic():
        message.save(
            update_fields=[
                "status",
                "sent_at",
                "next_attempt_at",
                "error",
                "smtp_code",
                "history",
                "updated_at",
            ]
        )
        if message.status == EmailStatus.RETRYING:
            delay = (message.next_attempt_at - now).total_seconds()
            transaction.on_commit(lambda: _publish_retry(message.pk, delay))
    log = logger.info if outcome.sent else logger.warning
    log("email %s attempt %s: %s %s", message.pk, message.attempts, entry["outcome"], outcome.reply)


def _publish_retry(email_id: int, countdown: float) -> None:
    """Send the countdown that starts the next attempt (tests replace this)."""
    current_app.send_task(RETRY_TASK, args=[email_id], countdown=countdown, queue="email")


# --- next attempts, repairs, resends -------------------------------------------------------


def start_next_attempt(email_id: int) -> Job | None:
    """Start the job of a `retrying` message's next attempt, unless one is already pending
    or running (a countdown and the beat sweep may both ask). Returns the job started."""
    with transaction.atomic():
        message = EmailMessage.objects.select_for_update().filter(pk=email_id).first()
        if message is None or message.status != EmailStatus.RETRYING:
            return None
        if message.job_id and message.job.status == JobStatus.PENDING:
            return None  # the next attempt is queued already
        # (A `running` job here is the previous attempt recording its end.)
        message.job = start_attempt_job(message, retry_of=message.job)
        message.save(update_fields=["job", "updated_at"])
        return message.job


def resend_email(email_id: int, *, owner=None) -> EmailMessage:
    """An operator sends a failed message again, with a fresh attempts budget. (If it failed
    because its worker was lost mid-send, it may have been delivered: check first.)"""
    with transaction.atomic():
        message = EmailMessage.objects.select_for_update().get(pk=email_id)
        if message.status != EmailStatus.FAILED:
            raise EmailStateConflict(
                f"Email {email_id} is {message.status}; only a failed one is resent."
            )
        message.status = EmailStatus.RETRYING
        message.max_attempts = message.attempts + max(1, settings.EMAIL_MAX_ATTEMPTS)
        message.next_attempt_at = timezone.now()
        message.job = start_attempt_job(message, owner=owner, retry_of=message.job)
        message.save(
            update_fields=["status", "max_attempts", "next_attempt_at", "job", "updated_at"]
        )
    return message


def maintain_emails(now=None) -> dict:
    """The beat task's work: start overdue retries whose countdown was lost; close messages
    whose attempt's job ended without recording an outcome (a worker lost while sending:
    the outcome is unknown, so `failed`, never resent blindly; or a job cancelled before
    it started)."""
    now = now or timezone.now()
    overdue = now - timedelta(seconds=settings.EMAIL_REQUEUE_AFTER_SECONDS)
    started = 0
    due = EmailMessage.objects.filter(status=EmailStatus.RETRYING, next_attempt_at__lte=overdue)
    for email_id in due.values_list("pk", flat=True)[:1000]:
        if start_next_attempt(email_id) is not None:
            started += 1
    closed = 0
    stuck = EmailMessage.objects.filter(
        status__in=[EmailStatus.SENDING, EmailStatus.QUEUED], job__status__in=TERMINAL_STATUSES
    ).select_related("job")
    for message in stuck[:1000]:
        closed += _close_stuck(message.pk)
    return {"retries_started": started, "closed": closed}


def _close_stuck(email_id: int) -> int:
    with transaction.atomic():
        message = (
            EmailMessage.objects.select_for_update(of=("self",))
            .select_related("job")
            .filter(pk=email_id, status__in=[EmailStatus.SENDING, EmailStatus.QUEUED])
            .first()
        )
        if message is None or message.job is None or not message.job.is_terminal:
            return 0
        if message.status == EmailStatus.SENDING:
            message.error = (
                f"The worker was lost while sending (job {message.job_id}: "
                f"{message.job.error.splitlines()[0] if message.job.error else message.job.status}"
                "). It may or may not have been delivered: check before resending."
            )
        else:
            message.error = f"Its job ended {message.job.status} before the first attempt."
        message.status = EmailStatus.FAILED
        message.save(update_fields=["status", "error", "updated_at"])
        return 1
