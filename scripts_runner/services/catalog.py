"""The catalog as scripts see it, from the worker side (the sandboxed child has no database).

- `export_catalog_skus(path)`: the catalog's SKUs into a file the child reads
  (`filter_products` with reference=catalog);
- `import_catalog_file(path, ...)`: the catalog-import step of the `full_import` workflow, run
  in the worker through the import_manager app's service (a thin adapter, so the workflow does
  not depend on that service's exact signature).
"""

from __future__ import annotations

import os
from pathlib import Path

from scripts_runner.services.paths import open_output

EXPORT_CHUNK = 10_000


def export_catalog_skus(path: str | Path) -> int:
    """Write every catalog SKU (one per line) to `path`; returns how many.

    Streams with a server-side cursor, so a catalog of millions of products costs no memory.
    """
    from product.models import Product

    count = 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open_output(tmp) as handle:
        skus = Product.objects.order_by().values_list("sku", flat=True)
        for sku in skus.iterator(chunk_size=EXPORT_CHUNK):
            handle.write(f"{sku}\n")
            count += 1
    os.replace(tmp, path)
    return count


class _ImportContext:
    """What import_manager's importer expects of a job context, over a workflow step."""

    def __init__(self, step):
        self._step = step

    def log(self, line: str) -> None:
        self._step.log(line)

    def progress(self, percent=None, *, phase=None, **counters) -> None:
        self._step.progress(percent or 0, phase or "", **counters)

    def cancel_requested(self) -> bool:
        return self._step.cancel_requested()


def import_catalog_file(path: str | Path, step, *, dry_run: bool = False) -> dict:
    """Import a file in the catalog format (see `prepare_catalog_file`) into the catalog.

    Runs in the worker through the import app's service for a job's import, the one an
    upload's job uses too: it records the workflow job's ImportRun, stores row errors against
    the job and sends `import_completed` (so the `import.completed` webhook) once the import
    has finished. Returns the import summary.
    """
    from import_manager.services.runs import import_file

    path = Path(path)
    return import_file(
        path,
        _ImportContext(step),
        job=step.job.job,
        filename=path.name,
        file_format="csv",
        dry_run=dry_run,
    )
