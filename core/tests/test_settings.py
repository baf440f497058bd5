"""Configuration comes from the environment; production refuses unsafe defaults."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'debug': settings.DEBUG, 'hosts': settings.ALLOWED_HOSTS, "
    "'cors': settings.CORS_ALLOWED_ORIGINS, 'ssl': bool(getattr(settings, "
    "'CELERY_BROKER_USE_SSL', None)), 'db': settings.DATABASES['default']['NAME'], "
    "'ext': bool(settings.EXTERNAL_JWT_SECRET)}))"
)


def load_settings(**env):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    base.update(DJANGO_SETTINGS_MODULE="config.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = load_settings()
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_everything_is_read_from_the_environment():
    result = load_settings(
        SECRET_KEY="k" * 50,
        ALLOWED_HOSTS="shop.example.com,api.example.com",
        CORS_ALLOWED_ORIGINS="https://app.example.com",
        REDIS_URL="rediss://:pw@cache.example.com:6380/0",
        REDIS_SSL_CERT_REQS="none",
        DATABASE_URL="postgres://u:p@db.example.com:5432/shop",
        JWT_SECRET="external-secret",
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {
        "debug": False,
        "hosts": ["shop.example.com", "api.example.com"],
        "cors": ["https://app.example.com"],
        "ssl": True,
        "db": "shop",
        "ext": True,
    }


def test_missing_database_url_is_a_clear_error():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY="k" * 50)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr
