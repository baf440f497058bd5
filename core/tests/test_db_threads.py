"""map_on_connections and SideConnection: database work on connections of their own."""

import threading

import pytest
from django.db import connection

from core.services.db_threads import SideConnection, map_on_connections

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


def test_a_side_connection_works_on_its_own_connection_and_finish_takes_over_the_queue():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own_pid = cursor.fetchone()[0]
    seen = []
    started = threading.Event()
    release = threading.Event()

    def first():
        started.set()
        release.wait(5)  # holds the side thread until the caller has run the rest
        seen.append(("first", backend_pid(None)[0]))

    with SideConnection() as side:
        side.submit(first)
        for n in range(3):
            side.submit(lambda n=n: seen.append((n, backend_pid(None)[0])))
        side.submit(release.set)
        started.wait(5)
        side.finish()

    # The side thread was busy: the caller ran the queued calls, in order, itself.
    assert seen[:3] == [(0, own_pid), (1, own_pid), (2, own_pid)]
    assert seen[3][0] == "first" and seen[3][1] != own_pid


def test_a_side_connection_raises_the_first_failure_and_skips_the_rest():
    ran = []

    def fail():
        raise ValueError("part 1 failed")

    with SideConnection() as side:
        side.submit(fail)
        side.submit(lambda: ran.append("after"))
        with pytest.raises(ValueError, match="part 1 failed"):
            side.finish()
    assert ran == []


def test_leaving_a_side_connection_without_finish_drops_what_has_not_started():
    started = threading.Event()
    ran = []

    def slow():
        started.set()
        threading.Event().wait(1)  # still running when the block is left
        ran.append("slow")

    with SideConnection() as side:
        side.submit(slow)
        side.submit(lambda: ran.append("queued"))
        started.wait(5)
    assert ran == ["slow"]  # the running call ended; the queued one never started
    with pytest.raises(RuntimeError, match="finished"):
        side.submit(slow)
