"""xlsx-to-csv: one worksheet of a workbook as a CSV file, read as a stream.

openpyxl's read-only mode parses the sheet's XML row by row, so memory stays flat however
long the sheet; cells become text as the catalog import reads them (whole-number floats as
integers, dates in ISO 8601). The workbook is refused before anything is inflated when its
parts would inflate past IMPORT_MAX_XLSX_INFLATED_BYTES (a zip bomb).
"""

from __future__ import annotations

import csv
import zipfile

from django.conf import settings

from core.services.paths import open_output
from import_manager.services.parsers import to_text

from ..exceptions import CodeFileError
from .batches import batch_of, save_batch
from .files import input_path, output_path, relative_to_data

CHECK_EVERY_ROWS = 5_000


def run_xlsx_to_csv_job(ctx) -> dict:
    """The `codes.xlsx_to_csv` job (seed: csv.xlsx_to_csv)."""
    batch = batch_of(ctx.job)
    params = ctx.params
    source = input_path(params["xlsx_path"], field="xlsx_path")
    target = output_path(
        params.get("output_path"), batch, f"{source.stem}.csv", field="output_path"
    )
    book = _open_workbook(source)
    try:
        sheet = _sheet(book, params.get("sheet"))
        ctx.log(f"Converting sheet '{sheet.title}' of {source.name} to {target.name}.")
        expected = max(sheet.max_row or 0, 1)
        rows = columns = 0
        width = None  # the header's: every row gets at least its columns
        with open_output(target, "w") as handle:
            writer = csv.writer(handle, delimiter=params.get("delimiter") or ",")
            for cells in sheet.iter_rows(values_only=True):
                values = ["" if cell is None else to_text(cell) for cell in cells]
                while values and values[-1] == "":
                    values.pop()  # trailing empty cells of a ragged sheet
                if width is None:
                    width = len(values)
                elif len(values) < width:
                    values += [""] * (width - len(values))  # a CSV of rows of one width
                writer.writerow(values)
                rows += 1
                columns = max(columns, len(values))
                if rows % CHECK_EVERY_ROWS == 0:
                    ctx.progress(min(99, 100 * rows / expected), phase="converting", rows=rows)
    finally:
        book.close()
    summary = {"sheet": sheet.title, "rows": rows, "columns": columns}
    save_batch(
        batch,
        total_rows=rows,
        counts={"rows": rows},
        summary={**summary, "output_path": relative_to_data(target)},
        result_path=relative_to_data(target),
    )
    ctx.log(f"{rows:,} rows written ({columns} columns).")
    # No Fienta step: converting a file changes nothing in Fienta (seed: `npm run
    # xlsx:to:csv`, which the platform's streaming conversion replaces).
    return {"batch_id": batch.pk, "output_path": relative_to_data(target), **summary}


def _open_workbook(path):
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise CodeFileError(f"{path.name} is not an XLSX workbook (not a zip archive).") from exc
    if inflated > settings.IMPORT_MAX_XLSX_INFLATED_BYTES:
        raise CodeFileError(
            f"{path.name} inflates to {inflated:,} bytes, more than the allowed "
            f"{settings.IMPORT_MAX_XLSX_INFLATED_BYTES:,}."
        )
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise CodeFileError(f"{path.name} is not a readable XLSX workbook: {exc}") from exc


def _sheet(book, wanted):
    """The sheet named `wanted`, or the `wanted`-th (from 1), or the first."""
    if wanted in (None, ""):
        return book.worksheets[0]
    if isinstance(wanted, int) or str(wanted).isdigit():
        index = int(wanted) - 1
        if 0 <= index < len(book.worksheets):
            return book.worksheets[index]
    elif str(wanted) in book.sheetnames:
        return book[str(wanted)]
    raise CodeFileError(
        f"The workbook has no sheet {wanted!r}; its sheets: {', '.join(book.sheetnames)}.",
        fields={"sheet": ["No such sheet."]},
    )
