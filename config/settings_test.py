"""Test settings: the production settings with a throwaway key and fast hashing.

Everything else (PostgreSQL, Redis, Celery, Channels) stays real.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
# Per-run prefixes keep parallel test runs (and a running dev server) on one Redis apart.
os.environ.setdefault("CHANNEL_PREFIX", f"test{os.getpid()}")
os.environ.setdefault("CELERY_KEY_PREFIX", f"test{os.getpid()}:")
os.environ.setdefault("CACHE_KEY_PREFIX", f"test{os.getpid()}")
# Test receivers (webhooks, feeds, Shopify stand-ins) listen on 127.0.0.1.
os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE_TARGETS", "1")

from .settings import *  # noqa: F403
from .settings import REST_FRAMEWORK

# Argon2 at production cost makes every created user cost ~50 ms; MD5 keeps tests fast.
# The hasher choice itself is checked in core/tests/test_auth.py against the real settings.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {**REST_FRAMEWORK}
# whitenoise scans STATIC_ROOT when the app starts; `collectstatic` never runs in tests.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
