"""Helpers of the webhook tests: an in-process stand-in for the worker (the loopback receiver
is webhook.testing.receiver)."""

from django.test import TestCase


def committed(func, *args, **kwargs):
    """Call `func` and run the commit hooks it registers, as a commit would.

    For tests inside the test-case transaction (fast); the commit semantics themselves are
    proven by transactional tests (test_events.py) and the e2e tests.
    """
    with TestCase.captureOnCommitCallbacks(execute=True):
        return func(*args, **kwargs)


def run_published(published: list, limit: int = 50) -> list:
    """Play the worker in-process: attempt every published delivery (and the retries they
    publish) in order, ignoring countdowns. Returns the rows the attempts produced."""
    from webhook.services.delivery import attempt_delivery

    results = []
    while published and limit:
        delivery_id, _countdown = published.pop(0)
        results.append(committed(attempt_delivery, delivery_id))
        limit -= 1
    return results
