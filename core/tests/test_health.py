"""Liveness and readiness probes."""

import pytest


def test_health_answers_without_database_or_auth(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_is_503_and_names_redis_when_redis_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("redis unreachable")
    assert body["checks"]["celery"] == "skipped: redis down"


@pytest.mark.e2e
@pytest.mark.django_db
def test_ready_is_200_with_database_redis_and_a_worker(client, celery_worker_process):
    response = client.get("/ready")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", "celery": "ok"},
    }
