"""Email as a background job, against a real SMTP server on 127.0.0.1 (aiosmtpd): the send
request, idempotency keys, templates, 4xx retried with backoff, 5xx failed at once with the
server's reply, exactly one message on the wire, the outbox log and its repairs."""

from datetime import timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from codes.jobs import EMAIL_SEND
from codes.models import EmailMessage, EmailStatus, EmailTemplate
from codes.services import email_delivery
from codes.services.email import queue_email
from core.models import Job, JobStatus
from core.services.jobs import execute_job, jobs_about
from devtools.fakes.smtp import FakeSMTPServer
from devtools.stack import free_port

URL = "/api/email/send"

# Seed 003 lists the endpoint without a body; these are the fields the issue names.
SEED_LIKE = {
    "to": "customer@example.com",
    "subject": "Your discount code",
    "text": "Your code is PROMO-0001.",
    "html": "<p>Your code is <b>PROMO-0001</b>.</p>",
}


@pytest.fixture
def smtp(settings):
    with FakeSMTPServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 5
        settings.DEFAULT_FROM_EMAIL = "Shop <shop@example.com>"
        settings.EMAIL_MAX_ATTEMPTS = 3
        settings.EMAIL_RETRY_BASE_DELAY = 30.0
        settings.EMAIL_RETRY_BACKOFF_FACTOR = 4.0
        yield server


@pytest.fixture(autouse=True)
def published(monkeypatch):
    """Retry countdowns the services publish, as [(email_id, countdown)]: in-process tests
    start the next attempt themselves (the e2e tests use the real countdown)."""
    calls = []
    monkeypatch.setattr(
        email_delivery,
        "_publish_retry",
        lambda email_id, countdown: calls.append((email_id, countdown)),
    )
    return calls


def send(client, body=None, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(URL, body or SEED_LIKE, format="json", **headers)


def run_job(job_id):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return execute_job(job_id)


@pytest.mark.django_db(transaction=True)
def test_send_queues_a_job_that_delivers_one_message_over_smtp(operator, smtp, enqueued_jobs):
    response = send(operator)
    assert response.status_code == 202, response.json()
    data = response.json()
    assert data["status"] == "queued" and data["duplicate"] is False
    assert data["to"] == ["customer@example.com"] and data["job_id"]
    job = Job.objects.get(pk=data["job_id"])
    assert job.kind == EMAIL_SEND.name and job.queue == "email"
    assert [sent.pk for sent in enqueued_jobs] == [job.pk]

    finished = run_job(job.pk)
    assert finished.status == JobStatus.COMPLETED, finished.error
    assert finished.result["status"] == "sent"
    message = EmailMessage.objects.get(pk=data["id"])
    assert message.status == EmailStatus.SENT and message.attempts == 1 and message.sent_at
    assert [entry["outcome"] for entry in message.history] == ["sent"]

    [received] = smtp.wait_for_messages(1)
    assert received.rcpt_tos == ["customer@example.com"]
    assert received.message["Message-ID"] == message.message_id
    assert received.message["Subject"] == "Your discount code"
    assert received.message["From"] == "Shop <shop@example.com>"
    parts = {
        part.get_content_type(): part.get_content()
        for part in received.message.walk()
        if not part.is_multipart()
    }
    assert "Your code is PROMO-0001." in parts["text/plain"]
    assert "<b>PROMO-0001</b>" in parts["text/html"]

    detail = operator.get(f"/api/jobs/{job.pk}")
    assert detail.json()["email"]["status"] == "sent"
    assert operator.get("/api/jobs/?kind=email.send").json()["count"] == 1  # seed 003's name


@pytest.mark.django_db
def test_the_same_idempotency_key_returns_the_same_email_and_job(operator, enqueued_jobs):
    first = send(operator, key="order-456-code")
    again = send(operator, key="order-456-code")
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["job_id"] == first.json()["job_id"]
    assert EmailMessage.objects.count() == 1 and len(enqueued_jobs) == 1

    changed = send(operator, {**SEED_LIKE, "subject": "Another"}, key="order-456-code")
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    bad_key = send(operator, key="has spaces in it")
    assert bad_key.status_code == 400 and "Idempotency-Key" in bad_key.json()["error"]["fields"]


@pytest.mark.django_db(transaction=True)
def test_a_4xx_is_retried_with_backoff_and_then_sent_once(operator, smtp, published):
    smtp.fail_next(451, "4.7.1 Greylisted, try again later")
    data = send(operator).json()
    first_job = run_job(data["job_id"])

    message = EmailMessage.objects.get(pk=data["id"])
    assert message.status == EmailStatus.RETRYING and message.attempts == 1
    assert message.smtp_code == 451 and "Greylisted" in message.error
    assert first_job.status == JobStatus.FAILED
    assert "SMTP 451" in first_job.error and "temporary; attempt 2 of 3" in first_job.error
    [(email_id, countdown)] = published
    assert email_id == message.pk and countdown == pytest.approx(30.0, abs=1)
    waited = (message.next_attempt_at - message.last_attempt_at).total_seconds()
    assert waited == pytest.approx(30.0, abs=1)
    assert smtp.messages == []

    # The countdown fires (codes.tasks_email.retry_email): a new attempt job.
    with TestCase.captureOnCommitCallbacks(execute=True):
        second = email_delivery.start_next_attempt(message.pk)
    assert second.retry_of_id == first_job.pk
    assert email_delivery.start_next_attempt(message.pk) is None  # asked twice: one job
    assert run_job(second.pk).status == JobStatus.COMPLETED

    message.refresh_from_db()
    assert message.status == EmailStatus.SENT and message.attempts == 2 and message.error == ""
    assert [entry["outcome"] for entry in message.history] == ["temporary", "sent"]
    assert message.history[0]["smtp_code"] == 451
    assert len(smtp.wait_for_messages(1)) == 1
    assert {job.pk for job in jobs_about(message)} == {first_job.pk, second.pk}
    assert len(published) == 1


@pytest.mark.django_db(transaction=True)
def test_a_5xx_fails_at_once_with_the_servers_reply(operator, smtp, published):
    smtp.fail_next(550, "5.1.1 <customer@example.com>: Recipient address rejected")
    data = send(operator).json()
    job = run_job(data["job_id"])
    message = EmailMessage.objects.get(pk=data["id"])
    assert message.status == EmailStatus.FAILED and message.attempts == 1
    assert message.smtp_code == 550
    assert "550 5.1.1 <customer@example.com>: Recipient address rejected" in message.error
    assert job.status == JobStatus.FAILED and "failed for good" in job.error
    assert published == [] and smtp.messages == []
    shown = operator.get(f"/api/email/messages/{message.pk}").json()
    assert shown["status"] == "failed" and shown["smtp_code"] == 550


@pytest.mark.django_db(transaction=True)
def test_a_permanent_refusal_of_the_data_is_not_retried(operator, smtp, published):
    smtp.fail_next(554, "5.7.1 Message rejected as spam", stage="DATA")
    data = send(operator).json()
    run_job(data["job_id"])
    message = EmailMessage.objects.get(pk=data["id"])
    assert message.status == EmailStatus.FAILED and message.smtp_code == 554
    assert "spam" in message.error and published == []


@pytest.mark.django_db(transaction=True)
def test_temporary_failures_give_up_after_the_attempts_budget(operator, smtp, published):
    smtp.fail_next(421, "4.3.2 Service not available", stage="MAIL", times=5)
    data = send(operator).json()
    run_job(data["job_id"])
    for _ in range(2):
        with TestCase.captureOnCommitCallbacks(execute=True):
            job = email_delivery.start_next_attempt(data["id"])
        run_job(job.pk)
    message = EmailMessage.objects.get(pk=data["id"])
    assert message.status == EmailStatus.FAILED and message.attempts == 3
    assert "gave up after 3 attempts" in message.error
    assert [countdown for _, countdown in published] == [30.0, 120.0]  # backoff x4
    assert smtp.messages == []


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_server_is_a_temporary_failure(operator, settings, published):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    data = send(operator).json()
    run_job(data["job_id"])
    message = EmailMessage.objects.get(pk=data["id"])
    assert message.status == EmailStatus.RETRYING and message.smtp_code is None
    assert "ConnectionRefusedError" in message.error and len(published) == 1


@pytest.mark.django_db(transaction=True)
def test_a_second_job_for_a_sent_email_sends_nothing(operator, smtp):
    data = send(operator).json()
    run_job(data["job_id"])
    message = EmailMessage.objects.get(pk=data["id"])
    with TestCase.captureOnCommitCallbacks(execute=True):
        duplicate = Job.objects.create(kind=EMAIL_SEND.name, params={"email_id": message.pk})
    result = run_job(duplicate.pk)
    assert result.status == JobStatus.COMPLETED and result.result["sent_by_this_job"] is False
    assert len(smtp.wait_for_messages(1)) == 1
    message.refresh_from_db()
    assert message.attempts == 1


@pytest.mark.django_db
def test_a_stored_template_is_rendered_with_the_context(operator, enqueued_jobs):
    EmailTemplate.objects.create(
        name="order-code-test",
        subject="Your code for order {{ order.id }}",
        text_body="Hello {{ name }}, your code: {{ code }}",
        html_body="<p>Hello {{ name }}, your code: <b>{{ code }}</b></p>",
    )
    body = {
        "to": ["Ana <ana@example.com>"],
        "template": "order-code-test",
        "context": {"code": "PROMO-7", "name": "<Ana & Bo>", "order": {"id": "456"}},
    }
    response = send(operator, body)
    assert response.status_code == 202, response.json()
    message = EmailMessage.objects.get(pk=response.json()["id"])
    assert message.subject == "Your code for order 456"
    assert message.text_body == "Hello <Ana & Bo>, your code: PROMO-7"
    assert message.html_body == "<p>Hello &lt;Ana &amp; Bo&gt;, your code: <b>PROMO-7</b></p>"
    assert (
        message.to == ["Ana <ana@example.com>"] and response.json()["template"] == "order-code-test"
    )

    unknown = send(operator, {**body, "template": "nope"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "template_error"
    mixed = send(operator, {**body, "subject": "x"})
    assert mixed.status_code == 400 and "subject" in mixed.json()["error"]["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SEED_LIKE, "to": "not-an-address"}, "to"),
        ({**SEED_LIKE, "to": []}, "to"),
        ({**SEED_LIKE, "cc": ["ok@example.com", "bad@"]}, "cc"),
        ({**SEED_LIKE, "subject": ""}, "subject"),
        ({**SEED_LIKE, "subject": "Hi\r\nBcc: victim@example.com"}, "subject"),
        ({**SEED_LIKE, "to": "a@example.com\r\nBcc: victim@example.com"}, "to"),
        ({"to": "a@example.com", "subject": "Hi"}, "text"),
        ({**SEED_LIKE, "context": {"a": 1}}, "context"),
        ({**SEED_LIKE, "attachments": []}, "attachments"),
    ],
)
def test_what_cannot_be_sent_is_a_400_naming_the_field(operator, body, field):
    response = send(operator, body)
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert not EmailMessage.objects.exists()


@pytest.mark.django_db
def test_too_many_recipients_are_refused(operator, settings):
    settings.EMAIL_MAX_RECIPIENTS = 2
    response = send(operator, {**SEED_LIKE, "to": ["a@x.com", "b@x.com"], "cc": ["c@x.com"]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_email"


@pytest.mark.django_db
def test_sending_needs_the_operator_role_and_spends_the_email_budget(client_for, settings):
    assert send(client_for("viewer")).status_code == 403
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "email": "2/min"}
    operator = client_for("operator")
    assert [send(operator).status_code for _ in range(3)] == [202, 202, 429]


@pytest.mark.django_db
def test_queued_inside_a_rolled_back_transaction_nothing_is_sent(enqueued_jobs):
    from django.db import transaction

    with TestCase.captureOnCommitCallbacks(execute=True):
        try:
            with transaction.atomic():
                queue_email(to="a@example.com", subject="Hi", text="x")
                raise RuntimeError("the caller failed")
        except RuntimeError:
            pass
    assert not EmailMessage.objects.exists() and enqueued_jobs == []


@pytest.mark.django_db(transaction=True)
def test_the_file_backend_keeps_each_message_as_a_file(operator, settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    data = send(operator).json()
    assert run_job(data["job_id"]).status == JobStatus.COMPLETED
    [written] = list((tmp_path / "mail").iterdir())
    content = written.read_text()
    assert EmailMessage.objects.get(pk=data["id"]).message_id in content
    assert "Your discount code" in content


@pytest.mark.django_db
def test_maintenance_starts_lost_retries_and_closes_lost_sends(enqueued_jobs, settings):
    settings.EMAIL_REQUEUE_AFTER_SECONDS = 60
    retrying = queue_email(to="a@example.com", subject="Retry me", text="x").message
    lost = queue_email(to="b@example.com", subject="Lost", text="x").message
    cancelled = queue_email(to="c@example.com", subject="Cancelled", text="x").message
    long_ago = timezone.now() - timedelta(minutes=5)
    Job.objects.filter(pk__in=[retrying.job_id, lost.job_id]).update(
        status=JobStatus.FAILED, error="Attempt 1: worker lost during sending"
    )
    Job.objects.filter(pk=cancelled.job_id).update(status=JobStatus.CANCELLED)
    EmailMessage.objects.filter(pk=retrying.pk).update(
        status=EmailStatus.RETRYING, attempts=1, next_attempt_at=long_ago
    )
    EmailMessage.objects.filter(pk=lost.pk).update(status=EmailStatus.SENDING, attempts=1)

    with TestCase.captureOnCommitCallbacks(execute=True):
        summary = email_delivery.maintain_emails()
    assert summary == {"retries_started": 1, "closed": 2}
    retrying.refresh_from_db()
    assert retrying.job.status == JobStatus.PENDING and retrying.job.retry_of_id
    lost.refresh_from_db()
    assert lost.status == EmailStatus.FAILED and "may or may not have been delivered" in lost.error
    cancelled.refresh_from_db()
    assert cancelled.status == EmailStatus.FAILED and "cancelled" in cancelled.error


@pytest.mark.django_db
def test_the_admin_outbox_shows_messages_and_resends_failed_ones(client, make_user, enqueued_jobs):
    message = queue_email(
        to="a@example.com", subject="Hello", text="Plain", html="<script>x()</script><p>Hi</p>"
    ).message
    EmailMessage.objects.filter(pk=message.pk).update(
        status=EmailStatus.FAILED, attempts=1, error="550 no such user"
    )
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    listing = client.get("/admin/codes/emailmessage/")
    assert listing.status_code == 200 and "Hello" in listing.content.decode()
    page = client.get(f"/admin/codes/emailmessage/{message.pk}/change/").content.decode()
    assert 'sandbox=""' in page and "&lt;script&gt;" in page and "<script>x()" not in page

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            "/admin/codes/emailmessage/",
            {"action": "resend_failed", "_selected_action": [message.pk]},
            follow=True,
        )
    assert "1 emails queued again." in response.content.decode()
    message.refresh_from_db()
    assert message.status == EmailStatus.RETRYING and message.max_attempts > 1
    assert message.job.status == JobStatus.PENDING and enqueued_jobs == [message.job]


@pytest.mark.django_db
def test_the_outbox_api_lists_and_filters(operator, client_for, enqueued_jobs):
    queue_email(to="a@example.com", subject="One", text="x", reference="order:1")
    queue_email(to=["b@example.com", "a@example.com"], subject="Two", text="x")
    listing = operator.get("/api/email/messages", {"to": "a@example.com"})
    assert listing.status_code == 200 and listing.json()["count"] == 2
    assert operator.get("/api/email/messages", {"reference": "order:1"}).json()["count"] == 1
    assert operator.get("/api/v1/email/messages", {"status": "sent"}).json()["count"] == 0
    assert operator.get("/api/email/messages", {"status": "nope"}).status_code == 400
    assert client_for("viewer").get("/api/email/messages").status_code == 403
