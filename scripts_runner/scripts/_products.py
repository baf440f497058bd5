"""Product files as the scripts read and write them (runs in the sandboxed child).

A product file is CSV (delimiter detected: `,` `;` tab `|`, UTF-8 with or without BOM), JSON
(a list of objects, or {"products": [...]}) or JSON Lines. Rows are dicts of strings; nested
values of JSON files (e.g. an `attributes` object) are kept as JSON text so every format
round-trips through CSV.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from product.columns import COLUMN_NAMES
from scripts_runner.sandbox.runtime import ScriptError
from scripts_runner.services.paths import open_output

PRODUCT_EXTENSIONS = [".csv", ".json", ".jsonl"]
# Core product columns (the catalog's own fields, product.columns, plus the supplier names
# `title` and `vendor`); anything else is an attribute.
CORE_COLUMNS = {*COLUMN_NAMES, "title", "vendor"}
csv.field_size_limit(10 * 1024 * 1024)


def sku_key(sku) -> str:
    """SKUs compare case-insensitively (as the catalog's unique index does)."""
    return str(sku or "").strip().casefold()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ProductFile:
    """Reads a product file: `.columns` (in file order) and iteration over row dicts."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in PRODUCT_EXTENSIONS:
            raise ScriptError(f"{self.path.name}: unsupported product file type {suffix!r}.")
        self.kind = suffix[1:]
        self.columns: list[str] = []
        if self.kind == "csv":
            with self.path.open(encoding="utf-8-sig", newline="") as handle:
                sample = handle.read(64 * 1024)
            try:
                self.dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
            except csv.Error:
                self.dialect = csv.excel
            header = next(csv.reader(sample.splitlines()[:1], self.dialect), [])
            self.columns = [column.strip() for column in header]
            if not self.columns:
                raise ScriptError(f"{self.path.name}: the file has no header row.")
        else:
            self.columns = self._json_columns()

    def _json_rows(self) -> Iterator[dict]:
        if self.kind == "jsonl":
            with self.path.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        yield self._object(json.loads(line), number)
            return
        data = json.loads(self.path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("products"), list):
            data = data["products"]
        if not isinstance(data, list):
            raise ScriptError(f"{self.path.name}: expected a list of products.")
        for number, item in enumerate(data, start=1):
            yield self._object(item, number)

    def _object(self, item, number) -> dict:
        if not isinstance(item, dict):
            raise ScriptError(f"{self.path.name}: item {number} is not an object.")
        return item

    def _json_columns(self) -> list[str]:
        columns: dict[str, None] = {}
        try:
            for item in self._json_rows():
                columns.update(dict.fromkeys(item))
        except json.JSONDecodeError as exc:
            raise ScriptError(f"{self.path.name}: invalid JSON ({exc}).") from None
        return list(columns)

    def estimate_rows(self) -> int:
        """About how many rows there are (for progress): lines of a CSV/JSONL, items of JSON."""
        if self.kind == "json":
            return sum(1 for _ in self._json_rows())
        count = 0
        with self.path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                count += chunk.count(b"\n")
        return max(1, count - (1 if self.kind == "csv" else 0))

    def __iter__(self) -> Iterator[dict[str, str]]:
        if self.kind == "csv":
            with self.path.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.reader(handle, self.dialect)
                next(reader, None)
                width = len(self.columns)
                for values in reader:
                    if not any(value.strip() for value in values):
                        continue  # blank line
                    values = (values + [""] * width)[:width]
                    yield dict(zip(self.columns, values, strict=True))
            return
        for item in self._json_rows():
            yield {column: _cell(item.get(column)) for column in self.columns}


class ProductWriter:
    """Writes rows as CSV (the format every later step and the catalog import read)."""

    def __init__(self, path: str | Path, columns: list[str]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.columns = list(columns)
        self._handle = open_output(self.path)
        self._writer = csv.DictWriter(self._handle, self.columns, extrasaction="ignore")
        self._writer.writeheader()
        self.count = 0

    def write(self, row: dict) -> None:
        self._writer.writerow({key: _cell(value) for key, value in row.items()})
        self.count += 1

    def close(self) -> None:
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def find_column(columns: list[str], wanted: str, *, what: str = "column") -> str:
    """The column named `wanted` (case-insensitively) or a clear error."""
    for column in columns:
        if column.strip().casefold() == wanted.strip().casefold():
            return column
    raise ScriptError(f"No {what} '{wanted}' in the file (columns: {', '.join(columns)}).")


def read_sku_list(path: str | Path) -> set[str]:
    """SKUs of a reference file: one per line (.txt), or the `sku` column of a product file."""
    path = Path(path)
    if path.suffix.lower() in PRODUCT_EXTENSIONS:
        products = ProductFile(path)
        column = find_column(products.columns, "sku", what="SKU column")
        return {sku_key(row[column]) for row in products if sku_key(row[column])}
    with path.open(encoding="utf-8-sig") as handle:
        return {sku_key(line) for line in handle if sku_key(line) and not line.startswith("#")}


def output_next_to(path: str | Path, suffix: str) -> Path:
    """`products.csv` + ".rejected" → `products.rejected.csv` (same folder)."""
    path = Path(path)
    return path.with_name(f"{path.stem}{suffix}.csv")
