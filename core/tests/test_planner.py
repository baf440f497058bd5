"""planner_setting: a planner parameter for the statements of one block only."""

import pytest
from django.db import DataError, connection, transaction

from core.services.planner import planner_setting

pytestmark = pytest.mark.django_db


def enable_seqscan() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_seqscan")
        return cursor.fetchone()[0]


def test_the_setting_holds_inside_the_block_and_is_put_back_after_it():
    with planner_setting("default", "enable_seqscan", "off"):
        assert enable_seqscan() == "off"
    assert enable_seqscan() == "on"


def test_a_failed_statement_inside_the_block_keeps_its_own_error_and_the_setting_is_back():
    with transaction.atomic():
        failing = planner_setting("default", "enable_seqscan", "off")
        with pytest.raises(DataError, match="division by zero"), failing, connection.cursor() as c:
            c.execute("SELECT 1 / 0")
        assert enable_seqscan() == "on"
