"""product.columns, the column contract, holds what the model holds."""

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from django.db import models

from product.columns import (
    COLUMN_NAMES,
    COLUMNS,
    FILE_COLUMNS,
    MONEY_DIGITS,
    MONEY_MAX,
    MONEY_PLACES,
    PUBLIC_COLUMNS,
    Kind,
)
from product.models import Product

DATABASE_FIELDS = {"id", "created_at", "updated_at"}
KIND_OF_FIELD = {
    models.CharField: {Kind.TEXT, Kind.CURRENCY},
    models.TextField: {Kind.TEXT},
    models.DecimalField: {Kind.MONEY},
    models.IntegerField: {Kind.INTEGER},
    models.BooleanField: {Kind.BOOLEAN},
    models.JSONField: {Kind.JSON_OBJECT},
}


def model_fields():
    return [f for f in Product._meta.concrete_fields if f.name not in DATABASE_FIELDS]


def test_the_contract_lists_every_model_field_in_the_model_order():
    assert tuple(field.name for field in model_fields()) == COLUMN_NAMES


def test_each_column_agrees_with_its_model_field():
    for column, field in zip(COLUMNS, model_fields(), strict=True):
        if column.kind is Kind.URL_LIST:
            assert field.get_internal_type() == "ArrayField", column.name
        else:
            assert column.kind in KIND_OF_FIELD[type(field)], column.name
        assert column.max_length == getattr(field, "max_length", None), column.name
        assert column.default == field.get_default(), column.name
        if column.kind is Kind.MONEY:
            assert (field.max_digits, field.decimal_places) == (MONEY_DIGITS, MONEY_PLACES)
            largest = Decimal(10) ** (field.max_digits - field.decimal_places)
            assert largest - Decimal(1).scaleb(-field.decimal_places) == MONEY_MAX


def test_the_catalog_file_starts_with_the_seed_columns_and_cost_stays_inside():
    assert FILE_COLUMNS[:5] == ("sku", "name", "description", "price", "is_active")
    assert sorted(FILE_COLUMNS) == sorted(COLUMN_NAMES)
    assert "cost" not in PUBLIC_COLUMNS and "price" in PUBLIC_COLUMNS


def test_the_contract_imports_without_django():
    # The sandboxed script child reads it with no settings and no database.
    root = Path(__file__).resolve().parents[2]
    code = "import sys, product.columns; assert 'django' not in sys.modules; print('ok')"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr
