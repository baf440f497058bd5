"""`filter_products`: split a product file into kept and rejected rows by reference SKUs.

The reference is a SKU list file, or the catalog itself: the worker then exports the catalog's
SKUs into the run's folder before the child starts (the child has no database access).
"""

from __future__ import annotations

from pathlib import Path

from scripts_runner.services.parameters import (
    BooleanParam,
    ChoiceParam,
    FilePathParam,
    StringParam,
)
from scripts_runner.services.registry import DATA_PROCESSING, Limits, Script, register

from ._products import (
    PRODUCT_EXTENSIONS,
    ProductFile,
    ProductWriter,
    find_column,
    output_next_to,
    read_sku_list,
    sku_key,
)

CATALOG = "catalog"
SKU_FILE = "sku_file"
KEEP_LISTED = "keep_listed"
DROP_LISTED = "drop_listed"


@register
class FilterProducts(Script):
    name = "filter_products"
    rerun_safe = True  # writes only its run's files
    category = DATA_PROCESSING
    description = (
        "Filter a product file against reference SKUs (a SKU list file or the catalog): keep "
        "the products listed there (or drop them), writing kept and rejected rows to CSV "
        "files; rows without a SKU and repeated SKUs are rejected too."
    )
    timeout = 1800
    limits = Limits(cpu_seconds=900, memory_mb=2048, file_size_mb=2048, open_files=64)
    parameters = [
        FilePathParam(
            "input_file",
            required=True,
            extensions=PRODUCT_EXTENSIONS,
            help="Product file (CSV, JSON or JSON Lines) in the data directory.",
        ),
        ChoiceParam(
            "reference",
            choices=[(SKU_FILE, "A SKU list file"), (CATALOG, "The catalog")],
            help="Default: the SKU list file when one is given, else the catalog.",
        ),
        FilePathParam(
            "sku_file",
            help="One SKU per line, or a product file with a sku column (reference=sku_file).",
        ),
        ChoiceParam(
            "mode",
            choices=[
                (KEEP_LISTED, "Keep products whose SKU is in the reference"),
                (DROP_LISTED, "Drop products whose SKU is in the reference"),
            ],
            default=KEEP_LISTED,
        ),
        StringParam(
            "sku_column", default="sku", max_length=100, pattern=r"[\w .\-]+", help="SKU column."
        ),
        BooleanParam("drop_duplicates", default=True, help="Reject repeated SKUs (first wins)."),
        FilePathParam("output_file", extensions=[".csv"], output="kept.csv", help="Kept rows."),
        FilePathParam(
            "rejected_file",
            must_exist=False,
            extensions=[".csv"],
            help="Rejected rows with a reason (default: <output>.rejected.csv).",
        ),
    ]

    def complete(self, values):
        if "reference" not in values:
            return {**values, "reference": SKU_FILE if values.get("sku_file") else CATALOG}
        return values

    def check(self, values):
        errors = {}
        if values["reference"] == SKU_FILE and not values.get("sku_file"):
            errors["sku_file"] = ["Required when the reference is a SKU list file."]
        if values.get("output_file") == values["input_file"]:
            errors["output_file"] = ["Must differ from the input file."]
        rejected = values.get("rejected_file")
        if rejected and rejected in (values["input_file"], values.get("output_file")):
            errors["rejected_file"] = ["Must differ from the input and output files."]
        return errors

    def prepare(self, values, workdir):
        # Worker side: the child cannot read the database, so the catalog's SKUs go to a file.
        if values["reference"] == CATALOG:
            from scripts_runner.services.catalog import export_catalog_skus

            path = Path(workdir) / "catalog_skus.txt"
            export_catalog_skus(path)
            values = {**values, "sku_file": str(path)}
        return values

    def run(self, params, ctx):
        products = ProductFile(params["input_file"])
        sku_column = find_column(products.columns, params["sku_column"], what="SKU column")
        reference = read_sku_list(params["sku_file"])
        source = "the catalog" if params["reference"] == CATALOG else Path(params["sku_file"]).name
        ctx.log(f"Reference: {len(reference)} SKUs from {source}")
        keep_listed = params["mode"] == KEEP_LISTED
        rejected_path = params.get("rejected_file") or output_next_to(
            params["output_file"], ".rejected"
        )
        estimate = products.estimate_rows()
        reasons: dict[str, int] = {}
        seen: set[str] = set()
        rows = 0
        with (
            ProductWriter(params["output_file"], products.columns) as kept,
            ProductWriter(rejected_path, [*products.columns, "reject_reason"]) as rejected,
        ):
            for row in products:
                rows += 1
                key = sku_key(row.get(sku_column))
                if not key:
                    reason = "missing_sku"
                elif params["drop_duplicates"] and key in seen:
                    reason = "duplicate_sku"
                elif (key in reference) != keep_listed:
                    reason = "not_in_reference" if keep_listed else "in_reference"
                else:
                    reason = ""
                seen.add(key)
                if reason:
                    reasons[reason] = reasons.get(reason, 0) + 1
                    rejected.write({**row, "reject_reason": reason})
                else:
                    kept.write(row)
                if rows % 20_000 == 0:
                    ctx.progress(min(99, rows * 100 // estimate), f"{rows} rows")
        ctx.log(f"Read {rows} rows: kept {kept.count}, rejected {rejected.count} {reasons or ''}")
        return {
            "rows": rows,
            "kept": kept.count,
            "rejected": rejected.count,
            "reasons": reasons,
            "reference_skus": len(reference),
            "output_file": str(params["output_file"]),
            "rejected_file": str(rejected_path),
        }
