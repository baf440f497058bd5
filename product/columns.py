"""The product's columns: one contract for everything that reads or writes the catalog table.

The API serializer and the admin form (which fields), the importer (the file's header, each
value's checks, the merge into the table), the webhook payloads (which columns leave the
platform, money as exact numbers), the scripts (the catalog file format) and the benchmarks
all take the list from here. `product/tests/test_columns.py` holds it against the model, so a
field added to `Product` without its line here fails the tests.

Django-free on purpose: the sandboxed script child imports it without settings or a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What a column holds; decides how a text value (a file's cell) is checked and read."""

    TEXT = "text"
    #: NUMERIC(12, 2), never negative: Decimal in Python, a string in the REST API, a JSON
    #: number with the exact digits in webhook payloads.
    MONEY = "money"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    #: ISO 4217 code: three letters, stored upper-case.
    CURRENCY = "currency"
    JSON_OBJECT = "json_object"
    #: A list of URLs (a text[] column); `a|b` or a JSON list in files.
    URL_LIST = "url_list"


#: MONEY columns are NUMERIC(12, 2): at most this amount.
MONEY_DIGITS = 12
MONEY_PLACES = 2
MONEY_MAX = Decimal("9999999999.99")
#: How files may write a boolean (compared lower-cased, trimmed).
TRUE_WORDS = ("true", "t", "yes", "y", "1", "on")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off")


@dataclass(frozen=True)
class Column:
    """One column of the product table that products are made of.

    - `required`: catalog files must have this column (the first five of the seed's CSV);
    - `blank`: a value may be empty (a new product then gets `default`); a required column
      that is not blank must hold a value in every row;
    - `max_length`: for text, in characters;
    - `trimmed`: surrounding whitespace of a file's value is dropped (not for descriptions,
      whose text is kept as written);
    - `public`: sent to the outside in webhook payloads (`cost` is internal);
    - `default`: the model's default (never mutate it: it is shared).
    """

    name: str
    kind: Kind
    required: bool = False
    blank: bool = True
    max_length: int | None = None
    trimmed: bool = True
    public: bool = True
    default: Any = None


#: In the model's field order (the API shows them in this order).
COLUMNS: tuple[Column, ...] = (
    Column("sku", Kind.TEXT, required=True, blank=False, max_length=255, default=""),
    Column("name", Kind.TEXT, required=True, blank=False, max_length=500, default=""),
    Column("description", Kind.TEXT, required=True, trimmed=False, default=""),
    Column("price", Kind.MONEY, required=True, blank=False, default=Decimal("0.00")),
    Column("compare_at_price", Kind.MONEY),
    Column("cost", Kind.MONEY, public=False),
    Column("currency", Kind.CURRENCY, max_length=3, default="USD"),
    Column("stock_quantity", Kind.INTEGER, default=0),
    Column("is_active", Kind.BOOLEAN, required=True, blank=False, default=True),
    Column("category", Kind.TEXT, max_length=255, default=""),
    Column("attributes", Kind.JSON_OBJECT, default={}),
    Column("image_urls", Kind.URL_LIST, default=[]),
)
BY_NAME: dict[str, Column] = {column.name: column for column in COLUMNS}

#: Every column a product is made of (what the API and the admin edit; ids and timestamps
#: are the database's).
COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)
#: The columns webhook payloads carry (besides id, created_at and updated_at).
PUBLIC_COLUMNS: tuple[str, ...] = tuple(column.name for column in COLUMNS if column.public)
MONEY_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind is Kind.MONEY)

#: The catalog file format, in its documented order: the required columns as the seed's CSV
#: has them (`sku,name,description,price,is_active`), then the optional ones.
FILE_REQUIRED_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.required)
FILE_OPTIONAL_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if not c.required)
FILE_COLUMNS: tuple[str, ...] = FILE_REQUIRED_COLUMNS + FILE_OPTIONAL_COLUMNS
