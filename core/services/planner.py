"""Planner settings for the statements of one block."""

from contextlib import contextmanager

from django.db import connections, transaction


@contextmanager
def planner_setting(using: str, name: str, value: str):
    """Set a planner parameter for the queries inside the block only.

    Transaction-local, and put back afterwards: in a request already inside a transaction
    (ATOMIC_REQUESTS, a test) a bare SET LOCAL would last until that transaction ends.
    """
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT current_setting(%s), set_config(%s, %s, true)", [name, name, value])
        previous = cursor.fetchone()[0]
        yield
        # Not on an error: rolling back the block's savepoint (or transaction) undoes the
        # setting too, and an aborted transaction would refuse the statement anyway.
        cursor.execute("SELECT set_config(%s, %s, true)", [name, previous])
