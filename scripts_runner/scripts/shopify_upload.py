"""`shopify_upload`: create or update products in a Shopify store (Admin GraphQL API).

Per batch of `batch_size` products: one `productVariants` query finds which SKUs already
exist (their product and variant ids), then one document with an aliased `productSet`
mutation per product creates the new ones and updates the existing ones (keeping the variant
id, so inventory and order history stay attached). Metafields come from the JSON written by
`create_metafields`. The access token is the named credential `shopify_token`.

A report CSV lists every product with its action (created / updated / failed / would_create
/ would_update in a dry run) and Shopify's user errors. The run fails if any product failed.
"""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

from scripts_runner.sandbox.runtime import ScriptError
from scripts_runner.services.parameters import (
    BooleanParam,
    ChoiceParam,
    FilePathParam,
    IntegerParam,
    StringParam,
)
from scripts_runner.services.paths import open_output
from scripts_runner.services.registry import SHOPIFY, Limits, Script, register

from ._products import PRODUCT_EXTENSIONS, ProductFile, find_column, sku_key
from ._shopify import ShopifyClient, is_allowed_shop, sku_query

LOOKUP = """
query ProductsBySku($query: String!, $first: Int!) {
  productVariants(first: $first, query: $query) {
    nodes { id sku product { id } }
  }
}
"""
LOOKUP_COST = 2
MUTATION_COST = 10
DEFAULT_OPTION = {"name": "Title", "values": [{"name": "Default Title"}]}
DEFAULT_OPTION_VALUE = [{"optionName": "Title", "name": "Default Title"}]
REPORT_COLUMNS = ["sku", "action", "product_id", "errors"]


def mutation_document(count: int) -> str:
    """One document with `count` aliased productSet mutations ($p0 ... $pN)."""
    variables = ", ".join(f"$p{i}: ProductSetInput!" for i in range(count))
    fields = "\n".join(
        f"  p{i}: productSet(synchronous: true, input: $p{i}) "
        "{ product { id } userErrors { field message code } }"
        for i in range(count)
    )
    return f"mutation UpsertProducts({variables}) {{\n{fields}\n}}"


def money(value: str, field: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        number = Decimal(value.replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"{field} {value!r} is not a number") from None
    if number < 0:
        raise ValueError(f"{field} is negative")
    return str(number.quantize(Decimal("0.01")))


@register
class ShopifyUpload(Script):
    name = "shopify_upload"
    # Writes to the store: a lost run may have sent part of a batch. Failed for an operator
    # to check in Shopify (then retry), never repeated blindly.
    rerun_safe = False
    category = SHOPIFY
    description = (
        "Create or update products in a Shopify store through the Admin GraphQL API "
        "(productSet), in batches, honouring Shopify's cost-based throttle and retrying 429 "
        "and 5xx answers. Needs the `shopify_token` credential."
    )
    timeout = 7200
    limits = Limits(cpu_seconds=1800, memory_mb=1024, file_size_mb=1024, open_files=128)
    credentials = ["shopify_token"]
    parameters = [
        FilePathParam("input_file", required=True, extensions=PRODUCT_EXTENSIONS),
        FilePathParam(
            "metafields_file",
            extensions=[".json"],
            help="Metafields JSON written by create_metafields (optional).",
        ),
        StringParam(
            "shop_domain",
            required=True,
            max_length=255,
            pattern=r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?",
            help="your-store.myshopify.com",
        ),
        StringParam("api_version", default="2025-01", pattern=r"\d{4}-\d{2}"),
        ChoiceParam(
            "status", choices=["ACTIVE", "DRAFT", "ARCHIVED"], default="DRAFT", help="New status."
        ),
        StringParam("vendor", max_length=255, pattern=r"[\w .&'-]+", help="Default vendor."),
        IntegerParam("batch_size", default=10, min_value=1, max_value=25),
        IntegerParam("max_retries", default=5, min_value=0, max_value=10),
        BooleanParam("dry_run", default=False, help="Look products up, change nothing."),
        FilePathParam(
            "report_file",
            extensions=[".csv"],
            output="shopify_report.csv",
            help="Per-product report.",
        ),
    ]

    def check(self, values):
        if not is_allowed_shop(values["shop_domain"]):
            return {"shop_domain": ["Must be a *.myshopify.com shop domain."]}
        return {}

    def run(self, params, ctx):
        token = ctx.credential("shopify_token")
        if not token:
            raise ScriptError("The shopify_token credential is not configured.")
        products = ProductFile(params["input_file"])
        sku_column = find_column(products.columns, "sku", what="SKU column")
        metafields = self._metafields(params.get("metafields_file"))
        rows = [row for row in products]
        report_path = Path(params["report_file"])
        client = ShopifyClient(
            params["shop_domain"],
            token,
            params["api_version"],
            max_retries=params["max_retries"],
            log=ctx.log,
        )
        counts = {"created": 0, "updated": 0, "failed": 0, "would_create": 0, "would_update": 0}
        batch_size = params["batch_size"]
        ctx.log(
            f"Uploading {len(rows)} products to {params['shop_domain']} in batches of "
            f"{batch_size}" + (" (dry run)" if params["dry_run"] else "")
        )
        try:
            with open_output(report_path) as handle:
                report = csv.DictWriter(handle, REPORT_COLUMNS)
                report.writeheader()
                for start in range(0, len(rows), batch_size):
                    batch = rows[start : start + batch_size]
                    for entry in self._batch(client, batch, sku_column, metafields, params):
                        counts[entry["action"]] += 1
                        report.writerow(entry)
                        if entry["action"] == "failed":
                            ctx.warn(f"{entry['sku'] or '(no sku)'}: {entry['errors']}")
                    done = min(len(rows), start + batch_size)
                    ctx.progress(done * 100 // max(1, len(rows)), f"{done}/{len(rows)} products")
        finally:
            client.close()
        stats = client.stats
        ctx.log(
            f"Created {counts['created']}, updated {counts['updated']}, failed "
            f"{counts['failed']}; {stats.requests} requests, {stats.retries} retries, "
            f"{stats.throttled} throttled, waited {stats.waited_seconds:.2f} s"
        )
        if counts["failed"]:
            raise ScriptError(f"{counts['failed']} product(s) failed; see {report_path}")
        return {
            **{key: value for key, value in counts.items() if value or not key.startswith("would")},
            "requests": stats.requests,
            "retries": stats.retries,
            "throttled": stats.throttled,
            "waited_seconds": round(stats.waited_seconds, 3),
            "report_file": str(report_path),
        }

    @staticmethod
    def _metafields(path) -> dict[str, list[dict]]:
        if not path:
            return {}
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ScriptError(f"Metafields file: invalid JSON ({exc}).") from None
        return {
            sku_key(item.get("sku")): [
                {key: field[key] for key in ("namespace", "key", "type", "value")}
                for field in item.get("metafields", [])
            ]
            for item in data.get("products", [])
        }

    def _batch(self, client, batch, sku_column, metafields, params):
        entries, inputs = [], []
        valid = []
        for row in batch:
            sku = (row.get(sku_column) or "").strip()
            try:
                product_input = self._input(row, sku, metafields, params)
            except ValueError as exc:
                entries.append(
                    {"sku": sku, "action": "failed", "product_id": "", "errors": str(exc)}
                )
                continue
            valid.append(sku)
            inputs.append(product_input)
        if not valid:
            return entries
        found = client.execute(
            LOOKUP,
            {"query": sku_query(valid), "first": min(250, len(valid) * 5)},
            cost=LOOKUP_COST + len(valid),
        )
        existing = {}
        for node in (found.get("productVariants") or {}).get("nodes", []):
            existing.setdefault(sku_key(node.get("sku")), (node["product"]["id"], node["id"]))
        for sku, product_input in zip(valid, inputs, strict=True):
            match = existing.get(sku_key(sku))
            if match:
                product_input["id"] = match[0]
                product_input["variants"][0]["id"] = match[1]
        if params["dry_run"]:
            for sku, product_input in zip(valid, inputs, strict=True):
                action = "would_update" if "id" in product_input else "would_create"
                entries.append(
                    {
                        "sku": sku,
                        "action": action,
                        "product_id": product_input.get("id", ""),
                        "errors": "",
                    }
                )
            return entries
        data = client.execute(
            mutation_document(len(inputs)),
            {f"p{i}": value for i, value in enumerate(inputs)},
            cost=MUTATION_COST * len(inputs),
        )
        for i, (sku, product_input) in enumerate(zip(valid, inputs, strict=True)):
            result = data.get(f"p{i}") or {}
            errors = result.get("userErrors") or []
            product = result.get("product") or {}
            if errors or not product.get("id"):
                message = (
                    "; ".join(
                        f"{'.'.join(map(str, e.get('field') or []))}: {e.get('message')}"
                        for e in errors
                    )
                    or "no product returned"
                )
                entries.append(
                    {"sku": sku, "action": "failed", "product_id": "", "errors": message}
                )
            else:
                action = "updated" if "id" in product_input else "created"
                entries.append(
                    {"sku": sku, "action": action, "product_id": product["id"], "errors": ""}
                )
        return entries

    @staticmethod
    def _input(row: dict, sku: str, metafields: dict, params) -> dict:
        if not sku:
            raise ValueError("no SKU")
        title = (row.get("title") or row.get("name") or "").strip()
        if not title:
            raise ValueError("no title/name")
        variant = {"optionValues": DEFAULT_OPTION_VALUE, "sku": sku}
        price = money(row.get("price", ""), "price")
        if price is not None:
            variant["price"] = price
        compare = money(row.get("compare_at_price", ""), "compare_at_price")
        if compare is not None:
            variant["compareAtPrice"] = compare
        product = {
            "title": title,
            "status": params["status"],
            "productOptions": [DEFAULT_OPTION],
            "variants": [variant],
        }
        if description := (row.get("description") or "").strip():
            product["descriptionHtml"] = description
        if category := (row.get("category") or "").strip():
            product["productType"] = category
        if vendor := (row.get("vendor") or params.get("vendor") or "").strip():
            product["vendor"] = vendor
        if tags := (row.get("tags") or "").strip():
            product["tags"] = [tag.strip() for tag in re.split(r"[,|]", tags) if tag.strip()]
        if fields := metafields.get(sku_key(sku)):
            product["metafields"] = fields
        return product
