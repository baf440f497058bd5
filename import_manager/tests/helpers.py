"""Helpers of the import tests: a ctx stand-in, file writers, the catalog's state."""

import csv
import json
import threading
from pathlib import Path

from core.exceptions import JobCancelled

HEADER = ["sku", "name", "description", "price", "is_active"]


class FakeCtx:
    """What import_catalog_file needs from a JobContext; records what it was told."""

    def __init__(self):
        self.job = None
        self.lines: list[str] = []
        self.events: list[tuple] = []
        self.cancel = threading.Event()
        self._lock = threading.Lock()

    def log(self, line):
        self.lines.append(line)

    def progress(self, percent=None, *, phase=None, **counters):
        with self._lock:
            self.events.append((percent, phase, counters))
        if self.cancel.is_set():
            raise JobCancelled()

    def cancel_requested(self):
        return self.cancel.is_set()

    def phases(self):
        return {phase for _, phase, _ in self.events}


def write_csv(path: Path, rows, header=HEADER, delimiter=",") -> Path:
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return Path(path)


def write_json(path: Path, rows, header=HEADER) -> Path:
    records = [dict(zip(header, row, strict=True)) for row in rows]
    Path(path).write_text(json.dumps(records), encoding="utf-8")
    return Path(path)


def write_jsonl(path: Path, rows, header=HEADER) -> Path:
    lines = [json.dumps(dict(zip(header, row, strict=True))) for row in rows]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)


def write_xml(path: Path, rows, header=HEADER) -> Path:
    from xml.sax.saxutils import escape

    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<catalog><products>']
    for row in rows:
        fields = "".join(
            f"<{name}>{escape(str(value))}</{name}>"
            for name, value in zip(header, row, strict=True)
        )
        parts.append(f"<product>{fields}</product>")
    parts.append("</products></catalog>\n")
    Path(path).write_text("".join(parts), encoding="utf-8")
    return Path(path)


def write_xlsx(path: Path, rows, header=HEADER) -> Path:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Products")
    sheet.append(header)
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return Path(path)


def catalog() -> dict:
    """{sku: (name, description, str(price), is_active)} of every product."""
    from product.models import Product

    return {
        p.sku: (p.name, p.description, str(p.price), p.is_active)
        for p in Product.objects.order_by("id")
    }
