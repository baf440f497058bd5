"""map_on_connections: side-by-side database work on connections of its own."""

import threading

import pytest
from django.db import connection

from core.services.db_threads import map_on_connections

pytestmark = pytest.mark.django_db(transaction=True)


def backend_pid(_item):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0], threading.get_ident()


def test_each_call_runs_in_another_thread_on_another_connection_and_results_keep_order():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own_pid = cursor.fetchone()[0]

    results = map_on_connections(backend_pid, range(4), workers=2)
    squares = map_on_connections(lambda n: n * n, [3, 1, 2], workers=2)

    assert squares == [9, 1, 4]
    assert len(results) == 4
    assert all(pid != own_pid and thread != threading.get_ident() for pid, thread in results)


def test_the_first_failure_is_raised_after_every_call_has_ended():
    finished = []

    def work(n):
        if n == 0:
            raise ValueError("part 0 failed")
        finished.append(n)
        return n

    with pytest.raises(ValueError, match="part 0 failed"):
        map_on_connections(work, range(4), workers=2)
    assert sorted(finished) == [1, 2, 3]
