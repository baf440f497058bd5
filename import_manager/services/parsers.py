"""Streaming readers of import files: CSV, XLSX, JSON / JSON Lines and XML.

A reader never holds the whole file: it yields `(row_number, values)` one record at a time,
`values` aligned to its `header` (a list of column names), and tells how far it got
(`fraction()`, 0-1, from the bytes or rows consumed). A record it cannot turn into values
is yielded as a `RowProblem` instead, so the importer reports that row and goes on.

Row numbers count data records from 1 in every format (the header is not a record).

- CSV: UTF-8 (a BOM is skipped), delimiter `,` (or `;`, tab, `|` when the header line uses
  it), quoted fields may span lines. Bytes that are not UTF-8 become U+FFFD and the row is
  reported by the validation.
- XLSX: the first worksheet, first row is the header (openpyxl read-only mode).
- JSON: an array of objects, or `{"products": [...]}` (streamed with ijson), or JSON Lines
  (`.jsonl` / `.ndjson`, or a `.json` file whose first line is a whole object). The keys of
  the first object act as the header.
- XML: every `<product>` element, its child elements named like the CSV columns
  (`<attributes>` / `<image_urls>` may hold child elements); parsed with defusedxml.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from .columns import ImportFileError, normalize_column

# A description may be long; the csv module's default cap (128 KiB) would stop the file.
csv.field_size_limit(max(csv.field_size_limit(), 16 * 1024 * 1024))

FORMATS = ("csv", "xlsx", "json", "xml")
EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".xml": "xml",
}


@dataclass(frozen=True)
class RowProblem:
    """A record that could not be read as a row: reported, then skipped."""

    column: str
    message: str
    value: str = ""


def format_for_name(name: str) -> str | None:
    """The import format of a file name (by extension), or None."""
    return EXTENSIONS.get(Path(name).suffix.lower())


def to_text(value):
    """A cell/JSON value as the text the validation expects (None stays None)."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Spreadsheets store whole numbers as floats: 5.0 is the integer 5.
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


class BaseReader:
    """Context manager: opens the file, reads the header; `rows()` streams the records."""

    format = ""
    #: CSV rows may have a wrong number of fields (reported); other readers align them.
    strict_width = False

    def __init__(self, path: Path):
        self.path = Path(path)
        self.size = max(self.path.stat().st_size, 1)
        self.header: list[str] = []

    def __enter__(self):
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def rows(self):
        raise NotImplementedError

    def fraction(self) -> float:
        return 0.0


class CsvReader(BaseReader):
    format = "csv"
    strict_width = True

    def open(self):
        self._raw = self.path.open("rb")
        first = self._raw.readline(64 * 1024)
        self._raw.seek(0)
        if not first.strip(b"\xef\xbb\xbf \t\r\n"):
            raise ImportFileError("The file is empty: no header line.")
        delimiter = max(",;\t|", key=lambda d: first.count(d.encode()))
        if first.count(delimiter.encode()) == 0:
            delimiter = ","
        self.delimiter = delimiter
        self._text = io.TextIOWrapper(self._raw, encoding="utf-8-sig", errors="replace", newline="")
        # PostgreSQL text cannot hold NUL: turn it into U+FFFD so the row is reported.
        lines = (ln.replace("\x00", "\ufffd") if "\x00" in ln else ln for ln in self._text)
        self._reader = csv.reader(lines, delimiter=delimiter)
        self.header = next(self._reader, [])
        self.data_offset = self._header_line_length(first, delimiter)

    def _header_line_length(self, first: bytes, delimiter: str) -> int | None:
        """Bytes before the first data record when the header is exactly the first physical
        line (the usual case), else None."""
        if not first.endswith(b"\n"):
            return None
        try:
            line = first.decode("utf-8-sig")
        except UnicodeDecodeError:
            return None
        fields = next(csv.reader([line], delimiter=delimiter), [])
        return len(first) if fields == self.header else None

    def restart(self) -> None:
        """Back to the first record (after the fast path read the raw bytes)."""
        self.close()
        self.open()

    def data_blocks(self, size: int = 1024 * 1024):
        """The raw bytes after the header line, in blocks (only when `data_offset` is set);
        `fraction()` follows them."""
        self._raw.seek(self.data_offset)
        while block := self._raw.read(size):
            yield block

    def close(self):
        raw = getattr(self, "_raw", None)
        if raw is not None:
            raw.close()

    def rows(self):
        try:
            yield from enumerate(self._reader, 1)
        except csv.Error as exc:
            raise ImportFileError(
                f"The CSV file is malformed near line {self._reader.line_num}: {exc}"
            ) from exc

    def fraction(self):
        return min(self._raw.tell() / self.size, 1.0)


class XlsxReader(BaseReader):
    format = "xlsx"

    def open(self):
        _check_xlsx_archive(self.path)
        import openpyxl

        try:
            self._book = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:
            raise ImportFileError(f"The file is not a readable XLSX workbook: {exc}") from exc
        if not self._book.worksheets:
            raise ImportFileError("The workbook has no worksheet.")
        sheet = self._book.worksheets[0]
        self._total = max((sheet.max_row or 0) - 1, 1)
        self._iter = sheet.iter_rows(values_only=True)
        header = next(self._iter, None)
        if header is None:
            raise ImportFileError("The worksheet is empty: no header row.")
        self.header = [to_text(cell) or "" for cell in header]
        self._row = 0

    def close(self):
        book = getattr(self, "_book", None)
        if book is not None:
            book.close()

    def rows(self):
        width = len(self.header)
        for number, cells in enumerate(self._iter, 1):
            self._row = number
            values = [to_text(cell) for cell in cells[:width]]
            if len(values) < width:
                values.extend([None] * (width - len(values)))
            yield number, values

    def fraction(self):
        return min(self._row / self._total, 1.0)


def _check_xlsx_archive(path: Path) -> None:
    """Refuse what is not a zip, and zip bombs, before openpyxl inflates anything."""
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportFileError("The file is not a valid XLSX workbook (not a zip archive).") from exc
    if inflated > settings.IMPORT_MAX_XLSX_INFLATED_BYTES:
        raise ImportFileError(
            f"The workbook inflates to {inflated} bytes, more than the allowed "
            f"{settings.IMPORT_MAX_XLSX_INFLATED_BYTES}."
        )


class _RecordReader(BaseReader):
    """Base of the formats whose records are key/value objects (JSON, XML)."""

    def open(self):
        self._file = self.path.open("rb")
        self._records = self.records()
        self._keys: dict = {}
        self._first = None
        for first in self._records:
            self._first = first
            break
        if not isinstance(self._first, dict):
            raise ImportFileError(
                f"The {self.format.upper()} file holds no product object to read a header from."
            )
        self.header = list(self._normalized(self._first))

    def close(self):
        handle = getattr(self, "_file", None)
        if handle is not None:
            handle.close()

    def records(self):
        raise NotImplementedError

    def _normalized(self, record: dict) -> dict:
        keys = self._keys
        out = {}
        for key, value in record.items():
            name = keys.get(key)
            if name is None:
                name = keys[key] = normalize_column(key)
            out[name] = value
        return out

    def rows(self):
        header = self.header

        def all_records():
            yield self._first
            yield from self._records

        for number, record in enumerate(all_records(), 1):
            if not isinstance(record, dict):
                yield number, RowProblem("", "is not an object with product fields")
                continue
            fields = self._normalized(record)
            yield number, [to_text(fields.get(name)) for name in header]

    def fraction(self):
        return min(self._file.tell() / self.size, 1.0)


class JsonReader(_RecordReader):
    format = "json"

    def records(self):
        import ijson

        head = self._file.read(64 * 1024)
        self._file.seek(0)
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        if start == b"[":
            prefix = "item"
        elif start == b"{":
            if self.path.suffix.lower() in (".jsonl", ".ndjson") or _first_line_is_object(head):
                yield from self._json_lines()
                return
            prefix = "products.item"
        else:
            raise ImportFileError(
                'The JSON file must hold an array of objects, {"products": [...]} '
                "or one object per line (JSON Lines)."
            )
        try:
            yield from ijson.items(self._file, prefix, use_float=False)
        except ijson.JSONError as exc:
            raise ImportFileError(f"The JSON file is malformed: {exc}") from exc

    def _json_lines(self):
        text = io.TextIOWrapper(self._file, encoding="utf-8-sig", errors="replace")
        for line in text:
            if not line.strip():
                continue
            try:
                yield json.loads(line, parse_float=Decimal)
            except ValueError:
                yield None  # reported as a row that is not an object

    def fraction(self):
        try:
            return min(self._file.tell() / self.size, 1.0)
        except ValueError:  # the text wrapper owns the file while reading JSON Lines
            return 0.0


def _first_line_is_object(head: bytes) -> bool:
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    try:
        record = json.loads(first)
    except ValueError:
        return False
    # A one-line {"products": [...]} file is the wrapped form, not JSON Lines.
    return isinstance(record, dict) and not isinstance(record.get("products"), list)


class XmlReader(_RecordReader):
    format = "xml"
    TAG = "product"

    def records(self):
        from xml.etree.ElementTree import ParseError

        from defusedxml import DefusedXmlException
        from defusedxml.ElementTree import iterparse

        stack = []
        try:
            for event, element in iterparse(self._file, events=("start", "end")):
                if event == "start":
                    stack.append(element)
                    continue
                stack.pop()
                if _local_name(element.tag) != self.TAG:
                    continue
                record = {_local_name(child.tag): _element_value(child) for child in element}
                # Drop the finished element so memory stays flat however long the file is.
                if stack:
                    stack[-1].remove(element)
                element.clear()
                yield record
        except ParseError as exc:
            raise ImportFileError(f"The XML file is malformed: {exc}") from exc
        except DefusedXmlException as exc:
            raise ImportFileError(f"The XML file was refused: {exc}") from exc


def _local_name(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _element_value(element):
    children = list(element)
    if not children:
        return element.text if element.text is not None else ""
    names = [_local_name(child.tag) for child in children]
    if (len(set(names)) == 1 and len(names) > 1) or names[0] in ("url", "item", "image"):
        return [child.text or "" for child in children]  # <image_urls><url>…</url></…>
    return {name: child.text or "" for name, child in zip(names, children, strict=True)}


READERS: dict[str, type[BaseReader]] = {
    "csv": CsvReader,
    "xlsx": XlsxReader,
    "json": JsonReader,
    "xml": XmlReader,
}


def open_reader(path: Path, file_format: str) -> BaseReader:
    """The reader for `file_format` (see FORMATS); use it as a context manager."""
    try:
        return READERS[file_format](path)
    except KeyError:
        raise ImportFileError(
            f"Unsupported format '{file_format}'; expected one of: {', '.join(FORMATS)}."
        ) from None
