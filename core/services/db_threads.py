"""Run database work side by side, each piece on a connection of its own."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from django.db import connection


def map_on_connections(function: Callable, items: Iterable, workers: int) -> list:
    """`function(item)` for every item, at most `workers` at a time, each call in a thread
    with its own database connection (closed after the call). Returns the results in item
    order; raises the first exception once every call has ended.

    Only for work outside the caller's transaction: other connections cannot see its rows.
    """

    def call(item):
        try:
            return function(item)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        futures = [pool.submit(call, item) for item in items]
    return [future.result() for future in futures]


class SideConnection:
    """A thread with a database connection of its own that works through the calls it is
    given, in the order given, while the caller goes on (e.g. validating each committed
    part of a file while the next part is being copied in).

        with SideConnection() as side:
            side.submit(function, *args)
            ...
            side.finish()  # the caller helps with what is queued, then waits

    `finish()` raises the first failure; leaving the block without it (an exception, a
    cancel) drops the calls not yet started and waits for the running one.
    """

    def __init__(self):
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._failures: list[BaseException] = []
        self._thread = threading.Thread(target=self._work, name="side-connection", daemon=True)
        self._thread.start()

    def __enter__(self) -> SideConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    def discard(self) -> None:
        """Drop the calls not yet started and wait for the running one; failures are
        forgotten. The side connection takes no more calls."""
        self._drop_pending()
        self._stop()

    def submit(self, function: Callable, *args) -> None:
        if not self._thread.is_alive():
            raise RuntimeError("this side connection has finished")
        self._calls.put((function, args))

    def finish(self) -> None:
        """Run what is still queued on the calling thread as well (on its own connection,
        side by side with the side thread: the calls must not depend on each other's
        order), wait for the side thread, and raise the first failure."""
        while (call := self._next()) is not None:
            self._call(*call)
        self._stop()
        if self._failures:
            raise self._failures[0]

    def _work(self) -> None:
        try:
            while (call := self._calls.get()) is not _STOP:
                self._call(*call)
        finally:
            connection.close()

    def _call(self, function: Callable, args: tuple) -> None:
        if self._failures:
            return  # after a failure the rest is pointless
        try:
            function(*args)
        except BaseException as exc:  # noqa: BLE001 - raised by finish() in the caller
            self._failures.append(exc)

    def _next(self):
        try:
            call = self._calls.get_nowait()
        except queue.Empty:
            return None
        return None if call is _STOP else call

    def _drop_pending(self) -> None:
        while self._next() is not None:
            pass

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._calls.put(_STOP)
            self._thread.join()


_STOP = object()
