"""The columns an import file may have, and how a file's header maps onto them."""

from __future__ import annotations

import re

from import_manager.exceptions import ImportFileError
from product.columns import (
    BY_NAME,
    FILE_COLUMNS,
    FILE_REQUIRED_COLUMNS,
    Kind,
)

# The catalog file format is the product's column contract (product.columns).
#: Every file must have these columns (values are checked row by row).
REQUIRED_COLUMNS = FILE_REQUIRED_COLUMNS
#: Every column a file may have (the required ones, then the optional ones: a column the
#: file does not have is left untouched on update).
KNOWN_COLUMNS = FILE_COLUMNS
#: Kinds whose values Python checks and rewrites while staging (JSON objects and URL
#: lists: PostgreSQL 15 cannot test them without failing the whole statement).
PYTHON_CHECKED_KINDS = frozenset({Kind.JSON_OBJECT, Kind.URL_LIST})


def python_checked(columns) -> list[str]:
    """The columns among `columns` whose values Python checks (see PYTHON_CHECKED_KINDS)."""
    return [name for name in columns if BY_NAME[name].kind in PYTHON_CHECKED_KINDS]


_SEPARATORS = re.compile(r"[\s\-]+")


def normalize_column(name) -> str:
    """`" Is Active"` → `is_active`: headers match case-insensitively, spaces as underscores."""
    text = str(name if name is not None else "").replace("\ufeff", "").strip().lower()
    return _SEPARATORS.sub("_", text)


class ColumnMap:
    """Which position of a source row feeds which known column.

    `positions` lists, in `columns` order, the index of each known column in the source row;
    columns the file has but the importer does not know are reported in `ignored`.
    """

    def __init__(self, header):
        names = [normalize_column(name) for name in header]
        seen: dict[str, int] = {}
        duplicates = []
        for index, name in enumerate(names):
            if not name:
                continue
            if name in seen:
                duplicates.append(name)
            else:
                seen[name] = index
        missing = [name for name in REQUIRED_COLUMNS if name not in seen]
        if missing:
            found = ", ".join(n for n in names if n) or "none"
            raise ImportFileError(
                f"Missing required column{'s' if len(missing) > 1 else ''}: "
                f"{', '.join(missing)}. Found: {found}. Required: {', '.join(REQUIRED_COLUMNS)}.",
                fields={"missing_columns": missing},
            )
        if duplicates:
            raise ImportFileError(
                f"Duplicate column{'s' if len(duplicates) > 1 else ''} in the header: "
                f"{', '.join(sorted(set(duplicates)))}."
            )
        self.width = len(names)
        self.columns = [name for name in KNOWN_COLUMNS if name in seen]
        self.positions = [seen[name] for name in self.columns]
        self.ignored = [name for name in names if name and name not in KNOWN_COLUMNS]
