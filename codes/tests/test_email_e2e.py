"""End to end: POST /api/email/send → the real Celery worker (queue `email`) → a real SMTP
server on 127.0.0.1, including a 4xx answered by the real retry countdown, and a 5xx.

The worker reads EMAIL_URL and the retry delays from the environment set here, at
collection time, before any session worker starts (devtools.stack.child_env copies it).
"""

import os

import pytest
from django.test import TestCase

from codes.models import EmailMessage, EmailStatus
from core.models import Job, JobStatus
from core.services.jobs import jobs_about
from core.testing.helpers import wait_until
from devtools.fakes.smtp import FakeSMTPServer
from devtools.stack import free_port

# Overwritten, not defaulted: a test must never send to a real server configured locally.
SMTP_PORT = free_port()
os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{SMTP_PORT}"
os.environ["EMAIL_RETRY_BASE_DELAY"] = "0.5"
os.environ["EMAIL_RETRY_BACKOFF_FACTOR"] = "2"
os.environ["EMAIL_MAX_ATTEMPTS"] = "3"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def smtp_server():
    with FakeSMTPServer(port=SMTP_PORT) as server:
        yield server


@pytest.fixture
def smtp(smtp_server):
    smtp_server.reset()
    yield smtp_server
    smtp_server.reset()


def send(client, key=None, **fields):
    body = {
        "to": "customer@example.com",
        "subject": "Your discount code",
        "text": "Your code is PROMO-0001.",
        **fields,
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post("/api/email/send", body, format="json", **headers)


def final(email_id, timeout=30):
    done = wait_until(
        lambda: EmailMessage.objects.get(pk=email_id).status
        in (EmailStatus.SENT, EmailStatus.FAILED),
        timeout=timeout,
    )
    message = EmailMessage.objects.get(pk=email_id)
    assert done, f"email {email_id} still {message.status}: {message.history}"
    return message


def test_the_worker_sends_it_once_whatever_the_repeats(celery_worker_process, client_for, smtp):
    operator = client_for("operator")
    first = send(operator, key="e2e-order-1")
    again = send(operator, key="e2e-order-1")
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["job_id"] == first.json()["job_id"]
    message = final(first.json()["id"])
    assert message.status == EmailStatus.SENT, message.error
    [received] = smtp.wait_for_messages(1)
    assert received.message["Message-ID"] == message.message_id
    assert received.message["From"] == message.from_email
    assert wait_until(lambda: Job.objects.get(pk=message.job_id).status == JobStatus.COMPLETED)
    assert len(smtp.messages) == 1


def test_a_4xx_is_retried_by_the_worker_and_then_sent(celery_worker_process, client_for, smtp):
    smtp.fail_next(451, "4.7.1 Greylisted, try again later")
    response = send(client_for("operator"), subject="Greylisted first")
    message = final(response.json()["id"])
    assert message.status == EmailStatus.SENT, message.history
    assert [entry["outcome"] for entry in message.history] == ["temporary", "sent"]
    assert message.history[0]["smtp_code"] == 451
    assert len(smtp.wait_for_messages(1)) == 1 and smtp.refused == [
        ("RCPT", "451 4.7.1 Greylisted, try again later")
    ]
    # The message is recorded sent just before its job records its own end.
    assert wait_until(lambda: not jobs_about(message).filter(status=JobStatus.RUNNING).exists())
    jobs = list(jobs_about(message).order_by("created_at"))
    assert [job.status for job in jobs] == [JobStatus.FAILED, JobStatus.COMPLETED]
    assert jobs[1].retry_of_id == jobs[0].pk and "SMTP 451" in jobs[0].error


def test_a_5xx_fails_at_once(celery_worker_process, client_for, smtp):
    smtp.fail_next(550, "5.1.1 No such user here")
    response = send(client_for("operator"), subject="Bounce")
    message = final(response.json()["id"])
    assert message.status == EmailStatus.FAILED and message.attempts == 1
    assert message.smtp_code == 550 and "5.1.1 No such user here" in message.error
    assert smtp.messages == [] and jobs_about(message).count() == 1
