"""Test helpers for the Job engine."""

import threading
import time

from core.models import Job
from core.services.job_kinds import declare_job_kind


def make_job(kind="diagnostics.echo", params=None, owner=None, **fields) -> Job:
    """A pending job row, not enqueued: tests run it in-process with `execute_job`."""
    return Job.objects.create(kind=kind, params=params or {}, owner=owner, **fields)


def register_kind(name: str, **options):
    """Decorator: declare a job kind whose handler is the decorated test function."""

    def register(handler):
        declare_job_kind(name, handler=handler, **options)
        return handler

    return register


def run_in_thread(func, *args):
    """Run `func` in a thread (with its own DB connection); returns the thread."""
    from django.db import connection

    def target():
        try:
            func(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def wait_until(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
