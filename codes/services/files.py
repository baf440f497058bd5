"""The files of the bulk code jobs: inputs confined to the data directory, readers, outputs.

An input is an upload (stored under DATA_DIR/uploads/codes/) or a path in the data directory,
confined like script paths (`core.services.paths`: no `..`, nothing outside DATA_DIR, no
symbolic link leading out, regular files only). Parameters keep the path relative to
DATA_DIR; it is confined again when the job runs (a file may have changed meanwhile).
Outputs go to the batch's own folder, DATA_DIR/code_batches/<batch id>/.
"""

from __future__ import annotations

import contextlib
import os
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path

from django.conf import settings

from core.services.paths import PathRejected, confine_path, open_output
from import_manager.exceptions import ImportFileError
from import_manager.services.parsers import BaseReader, open_reader

from ..exceptions import CodeFileError

#: Table files the jobs read, by extension.
TABLE_FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx"}
BATCHES_DIR = "code_batches"


def data_dir() -> Path:
    return Path(settings.DATA_DIR)


def confine_input(raw, *, field: str, formats: Sequence[str] = ("csv", "xlsx")) -> str:
    """The path `raw` (relative to DATA_DIR or absolute inside it) as stored in a job's
    parameters: relative to DATA_DIR. Refusals are a 400 naming `field`."""
    try:
        path = confine_path(raw, data_dir())
    except PathRejected as exc:
        raise CodeFileError(str(exc), fields={field: [str(exc)]}) from None
    file_format = TABLE_FORMATS.get(path.suffix.lower())
    if file_format not in formats:
        known = ", ".join(ext for ext, fmt in TABLE_FORMATS.items() if fmt in formats)
        message = f"Expected a {' or '.join(f.upper() for f in formats)} file ({known})."
        raise CodeFileError(message, fields={field: [message]})
    return relative_to_data(path)


def relative_to_data(path: Path) -> str:
    return os.path.relpath(path, os.path.realpath(data_dir()))


def input_path(relative: str, *, field: str = "csv_path") -> Path:
    """The real path of a stored input parameter, confined again."""
    try:
        return confine_path(relative, data_dir())
    except PathRejected as exc:
        raise CodeFileError(f"{field}: {exc}", fields={field: [str(exc)]}) from None


def table_format(path: Path) -> str:
    return TABLE_FORMATS.get(Path(path).suffix.lower(), "csv")


@contextlib.contextmanager
def open_table(path: Path) -> Iterator[BaseReader]:
    """The catalog import's streaming reader for a CSV or XLSX file (first sheet): `header`,
    then `rows()` as (row number, values). A file it cannot read is a CodeFileError."""
    try:
        with open_reader(Path(path), table_format(path)) as reader:
            yield reader
    except ImportFileError as exc:
        raise CodeFileError(str(exc)) from exc


def normalize_header(name) -> str:
    text = unicodedata.normalize("NFKC", str(name or "")).strip().lower()
    return "_".join(text.replace("-", " ").split())


def find_column(header: Sequence[str], names: Sequence[str]) -> int | None:
    """The position of the first header cell that is one of `names` (normalized), or None."""
    normalized = [normalize_header(cell) for cell in header]
    for name in names:
        if name in normalized:
            return normalized.index(name)
    return None


def batch_dir(batch) -> Path:
    return data_dir() / BATCHES_DIR / str(batch.pk)


def batch_file(batch, name: str) -> Path:
    """A file in the batch's folder (created), e.g. results.csv."""
    folder = batch_dir(batch)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def output_path(raw: str | None, batch, default_name: str, *, field: str) -> Path:
    """Where a job writes its output: `raw` (confined to DATA_DIR) or the batch's folder."""
    if not raw:
        return batch_file(batch, default_name)
    try:
        return confine_path(raw, data_dir(), must_exist=False)
    except PathRejected as exc:
        raise CodeFileError(f"{field}: {exc}", fields={field: [str(exc)]}) from None


__all__ = [
    "CodeFileError",
    "batch_dir",
    "batch_file",
    "confine_input",
    "find_column",
    "input_path",
    "open_output",
    "open_table",
    "output_path",
    "relative_to_data",
]
