"""Viewers read, operators act, admins manage users."""

import pytest

from core.models import Role
from core.testing.helpers import make_job

pytestmark = pytest.mark.django_db


def test_viewer_reads_jobs_but_cannot_start_or_cancel(client_for):
    viewer = client_for("viewer")
    job = make_job(owner=viewer.user)
    assert viewer.get("/api/jobs/").status_code == 200
    assert viewer.post("/api/jobs/diagnostics", {"lines": 1}, format="json").status_code == 403
    response = viewer.post(f"/api/jobs/{job.pk}/cancel")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_operator_starts_and_cancels_jobs(client_for, django_capture_on_commit_callbacks):
    operator = client_for("operator")
    with django_capture_on_commit_callbacks(execute=False):
        response = operator.post("/api/jobs/diagnostics", {"lines": 3}, format="json")
    assert response.status_code == 202
    job_id = response.json()["id"]
    assert response.json()["status"] == "pending"
    cancelled = operator.post(f"/api/jobs/{job_id}/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json()["status"] == "cancelled"
    again = operator.post(f"/api/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "job_state_conflict"


def test_user_without_a_role_is_refused(client_for):
    nobody = client_for(None)
    assert nobody.get("/api/jobs/").status_code == 403


def test_only_admins_manage_users(client_for):
    operator = client_for("operator")
    admin = client_for("admin")
    assert operator.get("/api/auth/users/").status_code == 403
    listing = admin.get("/api/auth/users/")
    assert listing.status_code == 200
    target = operator.user
    response = admin.patch(f"/api/auth/users/{target.pk}/", {"role": "viewer"}, format="json")
    assert response.status_code == 200, response.content
    assert type(target).objects.get(pk=target.pk).role == Role.VIEWER
    bad = admin.patch(f"/api/auth/users/{target.pk}/", {"role": "emperor"}, format="json")
    assert bad.status_code == 400
    assert "role" in bad.json()["error"]["fields"]


def test_superuser_counts_as_admin(make_user):
    user = make_user(None, is_superuser=True)
    assert user.role == Role.ADMIN
    assert user.has_role(Role.OPERATOR)
