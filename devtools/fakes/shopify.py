"""A local stand-in for the Shopify Admin GraphQL API, honouring the contract its clients use.

Implements, over an in-memory store:

- `productVariants(first, query: "sku:\\"A\\" OR ...")` and aliased
  `productSet(synchronous: true, input: $pN)` mutations (scripts_runner's uploader);
- `discountRedeemCodeBulkAdd(discountId, codes)` (at most 250 codes a call, else a
  TOO_MANY_ARGUMENTS user error; an unknown discount is an INVALID one), which answers a
  `bulkCreation { id }` at once and processes the codes asynchronously, and
  `discountRedeemCodeBulkCreation(id)`: `done`, `codesCount`, `importedCount`, `failedCount`
  and `codes(first:) { nodes { code errors { code field message } discountRedeemCode { id } } }`,
  each failed code with BLANK, TOO_LONG, TAKEN (in the shop already, any letter case) or
  DUPLICATE (twice in the call) — as Shopify does.

It checks the X-Shopify-Access-Token header (401 otherwise), keeps a leaky bucket and answers a
request that does not fit with a THROTTLED error carrying `extensions.cost.throttleStatus`, and
can be told to fail the next requests with 429 (Retry-After) or 5xx.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH_RE = re.compile(r"^/admin/api/\d{4}-\d{2}/graphql\.json$")
ALIAS_RE = re.compile(r"(\w+):\s*productSet\(synchronous:\s*true,\s*input:\s*\$(\w+)\)")
SKU_RE = re.compile(r'sku:"((?:[^"\\]|\\.)*)"')
VARIANT_LOOKUP_COST = 2
PRODUCT_SET_COST = 10
CODE_BULK_ADD_COST = 10
MAX_CODES_PER_BULK_ADD = 250
MAX_CODE_LENGTH = 255
FIRST_RE = re.compile(r"codes\(first:\s*(\d+)")


class FakeShopify:
    def __init__(self, token: str, *, maximum=1000.0, restore_rate=50.0):
        self.token = token
        self.maximum = maximum
        self.restore_rate = restore_rate
        self.available = maximum
        self.updated_at = time.monotonic()
        self.products: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.forced: list[tuple[int, dict]] = []  # (status, headers) for the next requests
        self.throttled = 0
        self.lock = threading.Lock()
        self._ids = itertools.count(1001)
        #: discount id -> {"title", "codes": {lower code: {"id", "code"}}}
        self.discounts: dict[str, dict] = {}
        #: bulk creation id -> its state (see _bulk_add)
        self.bulk_creations: dict[str, dict] = {}
        #: queries of a bulk creation answered `done: false` before it is processed
        self.polls_before_done = 1
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.domain = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # -- helpers for tests ---------------------------------------------------------------
    def add_product(self, sku: str, title: str) -> str:
        product_id = f"gid://shopify/Product/{next(self._ids)}"
        variant_id = f"gid://shopify/ProductVariant/{next(self._ids)}"
        self.products[product_id] = {
            "id": product_id,
            "title": title,
            "variants": [{"id": variant_id, "sku": sku, "price": "1.00"}],
            "metafields": [],
        }
        return product_id

    def by_sku(self, sku: str) -> dict | None:
        for product in self.products.values():
            if any(v["sku"].casefold() == sku.casefold() for v in product["variants"]):
                return product
        return None

    def add_discount(self, title: str = "Discount") -> str:
        """A code discount (DiscountCodeNode) to add redeem codes to; returns its id."""
        discount_id = f"gid://shopify/DiscountCodeNode/{next(self._ids)}"
        self.discounts[discount_id] = {"title": title, "codes": {}}
        return discount_id

    def add_shop_code(self, code: str, discount_id: str | None = None) -> None:
        """A redeem code already in the shop (another discount's, by default)."""
        if discount_id is None:
            discount_id = self.add_discount("Other discount")
        self._store_code(discount_id, code)

    def discount_codes(self, discount_id: str) -> list[str]:
        return [entry["code"] for entry in self.discounts[discount_id]["codes"].values()]

    def _store_code(self, discount_id: str, code: str) -> dict:
        entry = {"id": f"gid://shopify/DiscountRedeemCode/{next(self._ids)}", "code": code}
        self.discounts[discount_id]["codes"][code.casefold()] = entry
        return entry

    def _shop_has(self, code: str) -> bool:
        return any(code.casefold() in d["codes"] for d in self.discounts.values())

    def fail_next(self, status: int | str, **headers) -> None:
        """The next request gets HTTP `status` (or, for "THROTTLED", finds the bucket empty)."""
        self.forced.append((status, headers))

    # -- the API -------------------------------------------------------------------------
    def _refill(self):
        now = time.monotonic()
        self.available = min(
            self.maximum, self.available + (now - self.updated_at) * self.restore_rate
        )
        self.updated_at = now

    def _cost(self, requested, actual):
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": self.maximum,
                "currentlyAvailable": round(self.available, 1),
                "restoreRate": self.restore_rate,
            },
        }

    def handle(self, headers, body: bytes) -> tuple[int, dict, dict]:
        with self.lock:
            record = {"at": time.monotonic(), "token": headers.get("X-Shopify-Access-Token")}
            self.requests.append(record)
            if headers.get("X-Shopify-Access-Token") != self.token:
                record["status"] = 401
                return 401, {}, {"errors": "[API] Invalid API key or access token"}
            forced = self.forced.pop(0) if self.forced else None
            if forced is not None and forced[0] != "THROTTLED":
                status, extra = forced
                record["status"] = status
                return status, extra, {"errors": f"forced {status}"}
            if forced is not None:
                self.available, self.updated_at = 0.0, time.monotonic()  # bucket drained
            payload = json.loads(body)
            query, variables = payload["query"], payload.get("variables") or {}
            aliases = ALIAS_RE.findall(query)
            operation = None
            if aliases:
                requested = PRODUCT_SET_COST * len(aliases)
            elif "discountRedeemCodeBulkAdd" in query:
                operation, requested = self._bulk_add, CODE_BULK_ADD_COST
            elif "discountRedeemCodeBulkCreation" in query:
                first = FIRST_RE.search(query)
                operation = self._bulk_creation
                requested = 2 + (int(first[1]) if first else 0)
            elif "productVariants" in query:
                requested = VARIANT_LOOKUP_COST + len(SKU_RE.findall(variables["query"]))
            else:
                return 200, {}, {"errors": [{"message": "unsupported query"}]}
            self._refill()
            record["cost"] = requested
            if requested > self.available:
                self.throttled += 1
                record["status"] = "THROTTLED"
                return (
                    200,
                    {},
                    {
                        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                        "extensions": {"cost": self._cost(requested, 0)},
                    },
                )
            self.available -= requested
            record["status"] = 200
            if operation is not None:
                data = operation(query, variables)
            else:
                data = self._mutate(aliases, variables) if aliases else self._lookup(variables)
            return 200, {}, {"data": data, "extensions": {"cost": self._cost(requested, requested)}}

    def _lookup(self, variables):
        wanted = {json.loads(f'"{sku}"').casefold() for sku in SKU_RE.findall(variables["query"])}
        nodes = [
            {"id": variant["id"], "sku": variant["sku"], "product": {"id": product["id"]}}
            for product in self.products.values()
            for variant in product["variants"]
            if variant["sku"].casefold() in wanted
        ]
        return {"productVariants": {"nodes": nodes[: variables.get("first", 50)]}}

    def _bulk_add(self, query, variables):
        discount_id, codes = variables.get("discountId"), variables.get("codes") or []
        errors = []
        if discount_id not in self.discounts:
            errors.append(
                {"code": "INVALID", "field": ["discountId"], "message": "Discount does not exist."}
            )
        if len(codes) > MAX_CODES_PER_BULK_ADD:
            errors.append(
                {
                    "code": "TOO_MANY_ARGUMENTS",
                    "field": ["codes"],
                    "message": f"At most {MAX_CODES_PER_BULK_ADD} codes can be added at once.",
                }
            )
        if errors:
            return {"discountRedeemCodeBulkAdd": {"bulkCreation": None, "userErrors": errors}}
        creation_id = f"gid://shopify/DiscountRedeemCodeBulkCreation/{next(self._ids)}"
        self.bulk_creations[creation_id] = {
            "discount_id": discount_id,
            "codes": [str(item.get("code", "")) for item in codes],
            "polls": 0,
            "results": None,
        }
        return {
            "discountRedeemCodeBulkAdd": {"bulkCreation": {"id": creation_id}, "userErrors": []}
        }

    def _process(self, creation: dict) -> list[dict]:
        """Shopify's asynchronous job: each code is imported or gets its errors."""
        results, seen = [], set()
        for code in creation["codes"]:
            errors = []
            if not code.strip():
                errors.append(("BLANK", "Code can't be blank"))
            elif len(code) > MAX_CODE_LENGTH:
                errors.append(("TOO_LONG", f"Code is too long (maximum is {MAX_CODE_LENGTH})"))
            elif code.casefold() in seen:
                errors.append(("DUPLICATE", "Code is duplicated in this request"))
            elif self._shop_has(code):
                errors.append(("TAKEN", "Code must be unique. Please try a different code."))
            seen.add(code.casefold())
            entry = None if errors else self._store_code(creation["discount_id"], code)
            results.append(
                {
                    "code": code,
                    "errors": [
                        {"code": name, "field": ["code"], "message": message}
                        for name, message in errors
                    ],
                    "discountRedeemCode": {"id": entry["id"]} if entry else None,
                }
            )
        return results

    def _bulk_creation(self, query, variables):
        creation = self.bulk_creations.get(variables.get("id"))
        if creation is None:
            return {"discountRedeemCodeBulkCreation": None}
        creation["polls"] += 1
        if creation["results"] is None and creation["polls"] > self.polls_before_done:
            creation["results"] = self._process(creation)
        results = creation["results"]
        first = FIRST_RE.search(query)
        limit = int(first[1]) if first else 0
        done = results is not None
        failed = sum(1 for item in results if item["errors"]) if done else 0
        return {
            "discountRedeemCodeBulkCreation": {
                "id": variables["id"],
                "done": done,
                "codesCount": len(creation["codes"]),
                "importedCount": (len(results) - failed) if done else 0,
                "failedCount": failed,
                "codes": {"nodes": results[:limit] if done else []},
            }
        }

    def _mutate(self, aliases, variables):
        data = {}
        for alias, variable in aliases:
            product_input = variables[variable]
            errors = []
            if not product_input.get("title"):
                errors.append(
                    {
                        "field": ["input", "title"],
                        "message": "Title can't be blank",
                        "code": "BLANK",
                    }
                )
            if product_input.get("id") and product_input["id"] not in self.products:
                errors.append(
                    {
                        "field": ["input", "id"],
                        "message": "Product does not exist",
                        "code": "PRODUCT_DOES_NOT_EXIST",
                    }
                )
            if errors:
                data[alias] = {"product": None, "userErrors": errors}
                continue
            product_id = product_input.get("id") or f"gid://shopify/Product/{next(self._ids)}"
            variants = []
            for variant in product_input.get("variants", []):
                variants.append(
                    {
                        "id": variant.get("id")
                        or f"gid://shopify/ProductVariant/{next(self._ids)}",
                        "sku": variant.get("sku", ""),
                        "price": variant.get("price"),
                    }
                )
            self.products[product_id] = {
                "id": product_id,
                "title": product_input["title"],
                "status": product_input.get("status"),
                "productType": product_input.get("productType"),
                "variants": variants,
                "metafields": product_input.get("metafields", []),
            }
            data[alias] = {"product": {"id": product_id}, "userErrors": []}
        return data

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                if not PATH_RE.match(self.path):
                    self.send_error(404)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, extra, payload = fake.handle(self.headers, body)
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in extra.items():
                    self.send_header(key.replace("_", "-"), str(value))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        return Handler
