"""The operator console: job list, live job page, cancel/retry actions."""

import pytest

from core.models import JobStatus
from core.testing.helpers import make_job

pytestmark = pytest.mark.django_db


def test_job_changelist_filters_and_searches(staff_client):
    make_job(title="Nightly supplier sync", status=JobStatus.FAILED)
    make_job(title="Weekly price refresh", status=JobStatus.COMPLETED)
    response = staff_client.get("/admin/core/job/?status__exact=failed&q=supplier")
    assert response.status_code == 200
    content = response.content.decode()
    assert "Nightly supplier sync" in content
    assert "Weekly price refresh" not in content


def test_job_page_shows_the_live_log_over_the_websocket(staff_client):
    job = make_job(title="Watch me", status=JobStatus.RUNNING)
    response = staff_client.get(f"/admin/core/job/{job.pk}/change/")
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="job-log"' in content and 'id="job-progress"' in content
    assert "/ws/jobs/" in content and str(job.pk) in content
    assert f"/api/jobs/{job.pk}/logs" in content


def test_cancel_and_retry_actions(staff_client):
    pending = make_job(status=JobStatus.PENDING)
    failed = make_job(status=JobStatus.FAILED, params={"lines": 1})
    response = staff_client.post(
        "/admin/core/job/",
        {"action": "cancel_selected", "_selected_action": [str(pending.pk), str(failed.pk)]},
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == JobStatus.CANCELLED
    staff_client.post(
        "/admin/core/job/", {"action": "retry_selected", "_selected_action": [str(failed.pk)]}
    )
    assert failed.retries.count() == 1
    assert failed.retries.get().params == {"lines": 1}


def test_viewers_cannot_open_the_console(client, make_user):
    client.force_login(make_user("viewer"))
    assert client.get("/admin/core/job/").status_code == 302  # to the login page
