"""Liveness (`/health`) and readiness (`/ready`: database, Redis, a Celery worker)."""

import redis
from celery import current_app as celery_app
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def health(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"database unreachable: {type(exc).__name__}"
    return None


def _check_redis() -> str | None:
    try:
        kwargs = {"ssl_cert_reqs": settings.REDIS_SSL_CERT_REQS} if settings.REDIS_USES_TLS else {}
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2, **kwargs
        )
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001
        return f"redis unreachable: {type(exc).__name__}"
    return None


def _check_worker() -> str | None:
    try:
        replies = celery_app.control.ping(timeout=1.0)
    except Exception as exc:  # noqa: BLE001
        return f"cannot reach workers: {type(exc).__name__}"
    return None if replies else "no Celery worker replied"


@require_GET
def ready(request):
    checks = {"database": _check_database(), "redis": _check_redis()}
    # Without Redis the worker ping would only time out; say so once.
    checks["celery"] = _check_worker() if checks["redis"] is None else "skipped: redis down"
    failing = {name: problem for name, problem in checks.items() if problem}
    body = {
        "status": "unavailable" if failing else "ready",
        "checks": {name: (problem or "ok") for name, problem in checks.items()},
    }
    return JsonResponse(body, status=503 if failing else 200)
