"""`prepare_catalog_file`: turn any product file into the catalog import format.

The catalog import (import_manager) reads CSV with `sku, name, description, price, is_active`
and optional `compare_at_price, cost, currency, stock_quantity, category, attributes,
image_urls`. This script maps a supplier-style file onto those columns (`title` → name,
missing is_active → true, image columns joined as `url1|url2`), and folds every other column
into the `attributes` JSON (merged with an existing `attributes` column), so nothing a later
step produced is lost. Helper columns of earlier steps (category_rule, reject_reason) are
dropped.
"""

from __future__ import annotations

import json

from product.columns import FILE_COLUMNS, FILE_REQUIRED_COLUMNS
from scripts_runner.services.parameters import BooleanParam, FilePathParam, StringParam
from scripts_runner.services.registry import DATA_PROCESSING, Limits, Script, register

from ._products import PRODUCT_EXTENSIONS, ProductFile, ProductWriter

# The product's column contract (a Django-free module, importable in the sandbox).
CATALOG_COLUMNS = list(FILE_COLUMNS)
ALIASES = {
    "title": "name",
    "body_html": "description",
    "active": "is_active",
    "stock": "stock_quantity",
}
HELPER_COLUMNS = {"category_rule", "reject_reason"}
IMAGE_COLUMNS = {"image", "image_url", "image1", "image2", "image3", "images"}


@register
class PrepareCatalogFile(Script):
    name = "prepare_catalog_file"
    rerun_safe = True  # writes only its run's files
    category = DATA_PROCESSING
    description = (
        "Convert a product file into the catalog import format (CSV with the catalog's "
        "columns); other columns are kept as attributes."
    )
    timeout = 1800
    limits = Limits(cpu_seconds=900, memory_mb=1024, file_size_mb=4096, open_files=64)
    parameters = [
        FilePathParam("input_file", required=True, extensions=PRODUCT_EXTENSIONS),
        FilePathParam("output_file", extensions=[".csv"], output="catalog_import.csv"),
        BooleanParam("active", default=True, help="is_active for rows that do not say."),
        StringParam(
            "currency", max_length=3, pattern=r"[A-Z]{3}", help="Currency for rows without one."
        ),
    ]

    def check(self, values):
        if values.get("output_file") == values["input_file"]:
            return {"output_file": ["Must differ from the input file."]}
        return {}

    def run(self, params, ctx):
        products = ProductFile(params["input_file"])
        mapping = {}
        for column in products.columns:
            key = column.strip().lower().replace(" ", "_")
            key = ALIASES.get(key, key)
            if key in CATALOG_COLUMNS and key not in mapping.values():
                mapping[column] = key
        extra = [
            c
            for c in products.columns
            if c not in mapping and c.strip().lower() not in HELPER_COLUMNS
        ]
        images = [c for c in extra if c.strip().lower() in IMAGE_COLUMNS]
        attributes = [c for c in extra if c not in images]
        ctx.log(f"Columns mapped: {', '.join(f'{k}→{v}' for k, v in mapping.items())}")
        if attributes:
            ctx.log(f"Kept as attributes: {', '.join(attributes)}")
        default_active = "true" if params["active"] else "false"
        # Only columns the data has: an optional column the import file lacks is left alone
        # on existing products, while an empty one would overwrite (or be refused).
        produced = set(mapping.values()) | set(FILE_REQUIRED_COLUMNS)
        if attributes:
            produced.add("attributes")
        if images:
            produced.add("image_urls")
        if params.get("currency"):
            produced.add("currency")
        columns = [column for column in CATALOG_COLUMNS if column in produced]
        rows = 0
        with ProductWriter(params["output_file"], columns) as out:
            for row in products:
                rows += 1
                record = {key: row.get(column, "") for column, key in mapping.items()}
                merged = {}
                if record.get("attributes"):
                    try:
                        loaded = json.loads(record["attributes"])
                        merged = loaded if isinstance(loaded, dict) else {"value": loaded}
                    except ValueError:
                        merged = {"attributes": record["attributes"]}
                for column in attributes:
                    if (value := (row.get(column) or "").strip()) and column not in merged:
                        merged[column] = value
                record["attributes"] = json.dumps(merged, ensure_ascii=False) if merged else ""
                urls = [row[c].strip() for c in images if (row.get(c) or "").strip()]
                if urls and not record.get("image_urls"):
                    record["image_urls"] = "|".join(urls)
                record["is_active"] = record.get("is_active") or default_active
                if params.get("currency") and not record.get("currency"):
                    record["currency"] = params["currency"]
                record.setdefault("description", "")
                out.write(record)
        ctx.log(f"Wrote {rows} rows in the catalog format")
        return {"rows": rows, "output_file": str(params["output_file"]), "attributes": attributes}
