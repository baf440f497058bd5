"""Helpers of the index tests: the product table's indexes as PostgreSQL reports them.

Used by product/tests/test_catalog_indexes.py and import_manager/tests/test_import_bulk_load.py.
"""

import contextlib

import psycopg
from django.db import connection

from product.models import Product

TABLE = Product._meta.db_table
#: The indexes a bulk load leaves to the restore job (as catalog_indexes.DEFERRED_INDEXES).
DEFERRED = frozenset({"product_description_trgm", "product_sku_trgm"})
DESCRIPTION = "product_description_trgm"


def product_indexes() -> dict[str, str]:
    """{name: indexdef} of every index of the product table, from pg_indexes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = current_schema() AND tablename = %s",
            [TABLE],
        )
        return dict(cursor.fetchall())


def _index_names(condition: str) -> list[str]:
    """Names of the product table's indexes whose pg_index row (`x`) meets `condition`."""
    sql = "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
    sql += f" WHERE x.indrelid = %s::regclass AND ({condition})"
    with connection.cursor() as cursor:
        cursor.execute(sql, [TABLE])
        return [name for (name,) in cursor.fetchall()]


def kept_indexes() -> set[str]:
    """Names of the product table's unique and primary-key indexes (never suspended)."""
    return set(_index_names("x.indisunique OR x.indisprimary"))


def invalid_indexes() -> list[str]:
    """Names of the product table's indexes PostgreSQL marks invalid (or not ready)."""
    return sorted(_index_names("NOT (x.indisvalid AND x.indisready)"))


def index_oid(name: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)::oid", [name])
        return cursor.fetchone()[0]


def repair_indexes(expected: dict[str, str]) -> None:
    """Build again any of `expected` that is missing or invalid, so one failing test that
    committed its drops (transaction=True) cannot leave the table bare for the next ones."""
    with connection.cursor() as cursor:
        for name, definition in expected.items():
            cursor.execute(
                "SELECT x.indisvalid FROM pg_index x WHERE x.indexrelid = to_regclass(%s)",
                [name],
            )
            row = cursor.fetchone()
            if row is not None and row[0]:
                continue
            cursor.execute(f"DROP INDEX IF EXISTS {connection.ops.quote_name(name)}")
            cursor.execute(definition)


@contextlib.contextmanager
def repaired_indexes():
    """Snapshot the product table's indexes; on the way out of a transactional test, repair
    them. (A test in a transaction is rolled back anyway.)"""
    snapshot = product_indexes()
    yield snapshot
    if not connection.in_atomic_block:
        repair_indexes(snapshot)


class _DropLog:
    def __init__(self, watched: set[str]):
        self.watched = watched

    def names(self) -> list[str]:
        """The watched indexes dropped so far, by any session, in the order dropped."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM test_dropped_index ORDER BY id")
            return [name for (name,) in cursor.fetchall() if name in self.watched]


@contextlib.contextmanager
def recorded_index_drops():
    """Record, with an event trigger on sql_drop, every product index dropped while inside,
    whichever connection drops it. Yields an object whose names() lists them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE test_dropped_index (id bigserial PRIMARY KEY, name text NOT NULL)"
        )
        cursor.execute(
            "CREATE FUNCTION test_record_dropped_index() RETURNS event_trigger"
            " LANGUAGE plpgsql AS $$ BEGIN"
            " INSERT INTO test_dropped_index (name) SELECT object_name"
            " FROM pg_event_trigger_dropped_objects() WHERE object_type = 'index';"
            " END $$"
        )
        cursor.execute(
            "CREATE EVENT TRIGGER test_record_dropped_index ON sql_drop"
            " EXECUTE FUNCTION test_record_dropped_index()"
        )
    try:
        yield _DropLog(set(product_indexes()))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP EVENT TRIGGER IF EXISTS test_record_dropped_index")
            cursor.execute("DROP FUNCTION IF EXISTS test_record_dropped_index()")
            cursor.execute("DROP TABLE IF EXISTS test_dropped_index")


def other_session() -> psycopg.Connection:
    """A plain psycopg connection (autocommit) to the test database: another session."""
    params = connection.settings_dict
    return psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        autocommit=True,
    )
