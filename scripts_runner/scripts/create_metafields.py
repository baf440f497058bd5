"""`create_metafields`: Shopify metafields (namespace, key, type, value) from product attributes.

Attribute columns (every column that is not a core product field, or the ones named in
`columns`) and the keys of a JSON `attributes` column become metafields. Each key gets one
Shopify type for the whole file, the narrowest that fits all its values: number_integer,
number_decimal, boolean, date, url, json, multi_line_text_field, single_line_text_field.
Writes JSON ({"namespace", "definitions", "products": [{"sku", "metafields": [...]}]}, what
`shopify_upload` reads) and CSV (one row per metafield).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from scripts_runner.services.parameters import BooleanParam, FilePathParam, StringParam
from scripts_runner.services.paths import open_output
from scripts_runner.services.registry import DATA_PROCESSING, Limits, Script, register

from ._products import CORE_COLUMNS, PRODUCT_EXTENSIONS, ProductFile, find_column

# Narrowest first: a key takes the first type every one of its values fits.
TYPE_ORDER = [
    "boolean",
    "number_integer",
    "number_decimal",
    "date",
    "url",
    "json",
    "single_line_text_field",
    "multi_line_text_field",
]
_INTEGER = re.compile(r"^[+-]?\d{1,15}$")
_DECIMAL = re.compile(r"^[+-]?\d{1,15}\.\d{1,9}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.I)
_BOOLEAN = {"true", "false", "yes", "no"}
KEY_MAX = 64
SINGLE_LINE_MAX = 255


def metafield_key(name: str) -> str:
    """A Shopify metafield key from a column / attribute name (2-64 of [a-z0-9_-])."""
    key = re.sub(r"[^a-z0-9_-]+", "_", name.strip().lower()).strip("_-")[:KEY_MAX]
    return key if len(key) >= 2 else ""


def fits(kind: str, value: str) -> bool:
    if kind == "boolean":
        return value.lower() in _BOOLEAN
    if kind == "number_integer":
        return bool(_INTEGER.match(value))
    if kind == "number_decimal":
        return bool(_DECIMAL.match(value) or _INTEGER.match(value))
    if kind == "date":
        return bool(_DATE.match(value))
    if kind == "url":
        return bool(_URL.match(value))
    if kind == "json":
        if not value.startswith(("{", "[")):
            return False
        try:
            json.loads(value)
        except ValueError:
            return False
        return True
    if kind == "single_line_text_field":
        return "\n" not in value and len(value) <= SINGLE_LINE_MAX
    return True


def normalise(kind: str, value: str) -> str:
    """The value in the form Shopify expects for its type."""
    if kind == "boolean":
        return "true" if value.lower() in ("true", "yes") else "false"
    if kind == "json":
        return json.dumps(json.loads(value), separators=(",", ":"), ensure_ascii=False)
    return value


@register
class CreateMetafields(Script):
    name = "create_metafields"
    rerun_safe = True  # writes only its run's files
    category = DATA_PROCESSING
    description = (
        "Generate Shopify metafields (namespace, key, type, value) from product attribute "
        "columns and a JSON `attributes` column, with one inferred type per key; writes JSON "
        "(for shopify_upload) and CSV."
    )
    timeout = 1800
    limits = Limits(cpu_seconds=900, memory_mb=2048, file_size_mb=2048, open_files=64)
    parameters = [
        FilePathParam("input_file", required=True, extensions=PRODUCT_EXTENSIONS),
        StringParam(
            "namespace",
            default="custom",
            min_length=3,
            max_length=255,
            pattern=r"[a-zA-Z0-9_-]+",
            help="Metafield namespace (3-255 characters: letters, digits, _ and -).",
        ),
        StringParam(
            "columns",
            max_length=2000,
            pattern=r"[\w .,-]+",
            help="Comma-separated attribute columns (default: every non-core column).",
        ),
        BooleanParam(
            "include_attributes_json",
            default=True,
            help="Also turn the keys of an `attributes` JSON column into metafields.",
        ),
        FilePathParam("output_json", extensions=[".json"], output="metafields.json"),
        FilePathParam("output_csv", extensions=[".csv"], output="metafields.csv"),
    ]

    def run(self, params, ctx):
        products = ProductFile(params["input_file"])
        sku_column = find_column(products.columns, "sku", what="SKU column")
        if params.get("columns"):
            wanted = [name.strip() for name in params["columns"].split(",") if name.strip()]
            columns = [find_column(products.columns, name) for name in wanted]
        else:
            columns = [c for c in products.columns if c.strip().lower() not in CORE_COLUMNS]
        attributes_column = next(
            (c for c in products.columns if c.strip().lower() == "attributes"), None
        )
        use_attributes = params["include_attributes_json"] and attributes_column is not None
        namespace = params["namespace"]

        # Pass 1: values per product and key; the narrowest type that fits every value.
        per_product: list[tuple[str, dict[str, str]]] = []
        candidates: dict[str, list[str]] = {}
        sources: dict[str, str] = {}
        for row in products:
            sku = (row.get(sku_column) or "").strip()
            if not sku:
                continue
            values: dict[str, str] = {}
            for column in columns:
                self._add(values, sources, column, row.get(column, ""))
            if use_attributes and (raw := (row.get(attributes_column) or "").strip()):
                try:
                    extra = json.loads(raw)
                except ValueError:
                    ctx.warn(f"{sku}: the attributes column is not JSON; skipped")
                    extra = {}
                if isinstance(extra, dict):
                    for name, value in extra.items():
                        if isinstance(value, (dict, list)):
                            value = json.dumps(value, ensure_ascii=False)
                        elif isinstance(value, bool):
                            value = "true" if value else "false"
                        self._add(values, sources, str(name), "" if value is None else str(value))
            for key, value in values.items():
                kinds = candidates.setdefault(key, list(TYPE_ORDER))
                kinds[:] = [kind for kind in kinds if fits(kind, value)]
            per_product.append((sku, values))
        definitions = {key: kinds[0] for key, kinds in candidates.items()}
        if not definitions:
            ctx.warn("No attribute values found: no metafields to create.")
        ctx.log(f"{len(definitions)} metafield keys in namespace '{namespace}':")
        for key, kind in sorted(definitions.items()):
            ctx.log(f"  {key}: {kind} (from '{sources[key]}')")

        # Pass 2: write JSON for shopify_upload and CSV for people.
        payload = {
            "namespace": namespace,
            "definitions": [
                {"namespace": namespace, "key": key, "type": kind, "source": sources[key]}
                for key, kind in sorted(definitions.items())
            ],
            "products": [],
        }
        count = 0
        csv_path = params.get("output_csv")
        csv_handle = open_output(csv_path) if csv_path else None
        try:
            writer = csv.writer(csv_handle) if csv_handle else None
            if writer:
                writer.writerow(["sku", "namespace", "key", "type", "value"])
            for sku, values in per_product:
                fields = [
                    {
                        "namespace": namespace,
                        "key": key,
                        "type": definitions[key],
                        "value": normalise(definitions[key], value),
                    }
                    for key, value in values.items()
                ]
                if not fields:
                    continue
                payload["products"].append({"sku": sku, "metafields": fields})
                count += len(fields)
                if writer:
                    for field in fields:
                        writer.writerow(
                            [sku, namespace, field["key"], field["type"], field["value"]]
                        )
        finally:
            if csv_handle:
                csv_handle.close()
        Path(params["output_json"]).parent.mkdir(parents=True, exist_ok=True)
        with open_output(params["output_json"]) as handle:
            json.dump(payload, handle, ensure_ascii=False, indent=1)
        ctx.log(f"Wrote {count} metafields for {len(payload['products'])} products")
        return {
            "products": len(payload["products"]),
            "metafields": count,
            "definitions": definitions,
            "output_json": str(params["output_json"]),
            "output_csv": str(csv_path) if csv_path else None,
        }

    @staticmethod
    def _add(values: dict, sources: dict, name: str, value: str) -> None:
        value = (value or "").strip()
        key = metafield_key(name)
        if not value or not key:
            return
        values[key] = value
        sources.setdefault(key, name)
