"""Run database work side by side, each piece on a connection of its own."""

from __future__ import annotations

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
