"""allocate_code's prepared statement: prepared once per connection, prepared again when the
connection lost it, and the same answers without it (CODES_ALLOCATION_PREPARED off)."""

import pytest
from django.db import connection, transaction

from codes.models import CodeAllocation
from codes.services import allocation
from codes.services.allocation import allocate_code

from .factories import make_codes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _unprepared():
    """Each test starts on a connection without the statement (it is kept between tests)."""
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    allocation._PREPARED.clear()


def _prepared() -> list[tuple[str, int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE name LIKE 'codes_allocate_%%'"
        )
        return cursor.fetchall()


def test_the_statement_is_prepared_once_and_reused():
    make_codes(10)
    codes = {allocate_code("discount", idempotency_key=f"k-{n}").code.code for n in range(8)}

    assert len(codes) == 8
    [(_name, generic, custom)] = _prepared()
    assert generic + custom == 8
    assert allocate_code("discount", idempotency_key="k-3").code.code in codes  # a replay


def test_a_connection_that_lost_it_prepares_it_again_even_inside_a_transaction():
    make_codes(3)
    first = allocate_code("discount", idempotency_key="a").code
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with transaction.atomic():
        second = allocate_code("discount", idempotency_key="b").code
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    third = allocate_code("discount", idempotency_key="c").code

    assert len({first.pk, second.pk, third.pk}) == 3
    assert CodeAllocation.objects.count() == 3
    assert len(_prepared()) == 1


def test_without_preparing_the_answers_are_the_same(settings):
    settings.CODES_ALLOCATION_PREPARED = False
    make_codes(2)
    first = allocate_code("discount", reference="order-1")

    again = allocate_code("discount", reference="order-1", idempotency_key="x")

    assert first.created and not again.created and again.code.pk == first.code.pk
    assert _prepared() == []
