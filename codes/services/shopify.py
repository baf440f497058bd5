"""Adding a batch's new codes to an existing Shopify discount (`discountRedeemCodeBulkAdd`).

Shopify takes at most 250 codes a call and creates them asynchronously: the mutation answers
a `DiscountRedeemCodeBulkCreation` id, which is polled until `done`; then each code's
`errors` (TAKEN, DUPLICATE, TOO_LONG, BLANK, ...) are mapped back onto the row it came
from. The client (the script runner's) honours Shopify's cost-based throttle and retries
429/5xx with backoff. Every call is an outside effect: it runs inside `unsafe_to_rerun`.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings

from core.sandbox.protocol import ChildError
from scripts_runner.scripts._shopify import ShopifyClient, is_allowed_shop

from ..exceptions import ShopifySyncFailed

MAX_CODES_PER_CALL = 250
BULK_ADD_COST = 10
BULK_CREATION_COST = 2 + MAX_CODES_PER_CALL
ADDED = "added"

BULK_ADD = """
mutation discountRedeemCodeBulkAdd($discountId: ID!, $codes: [DiscountRedeemCodeInput!]!) {
  discountRedeemCodeBulkAdd(discountId: $discountId, codes: $codes) {
    bulkCreation { id }
    userErrors { code field message }
  }
}
"""
BULK_CREATION = """
query discountRedeemCodeBulkCreation($id: ID!) {
  discountRedeemCodeBulkCreation(id: $id) {
    id
    done
    codesCount
    importedCount
    failedCount
    codes(first: 250) {
      nodes { code errors { code field message } discountRedeemCode { id } }
    }
  }
}
"""


def shopify_configured() -> bool:
    return bool(settings.SHOPIFY_SHOP_DOMAIN and settings.SHOPIFY_ACCESS_TOKEN)


def check_shop() -> None:
    if not is_allowed_shop(settings.SHOPIFY_SHOP_DOMAIN):
        raise ShopifySyncFailed(f"{settings.SHOPIFY_SHOP_DOMAIN} is not a *.myshopify.com shop.")


def add_codes(
    ctx,
    discount_id: str,
    rows: Iterable[tuple[int, str]],
    *,
    on_results: Callable[[list[tuple[int, str, str]]], None],
) -> dict:
    """Add the codes of `rows` ((row number, code)) to the discount, 250 a call; hands each
    call's (row number, "added" or Shopify's error code, message) to `on_results`. Returns
    the totals {calls, codes, imported, failed}."""
    check_shop()
    client = ShopifyClient(
        settings.SHOPIFY_SHOP_DOMAIN,
        settings.SHOPIFY_ACCESS_TOKEN,
        settings.SHOPIFY_API_VERSION,
        log=ctx.log,
    )
    totals = {"calls": 0, "codes": 0, "imported": 0, "failed": 0}
    try:
        with ctx.unsafe_to_rerun(f"adding codes to the Shopify discount {discount_id}"):
            for chunk in _chunks(rows, MAX_CODES_PER_CALL):
                results, creation = _add_chunk(ctx, client, discount_id, chunk)
                on_results(results)
                totals["calls"] += 1
                totals["codes"] += len(chunk)
                totals["imported"] += int(creation.get("importedCount") or 0)
                totals["failed"] += int(creation.get("failedCount") or 0)
                ctx.log(
                    f"Shopify: {totals['codes']} codes sent, {totals['imported']} added, "
                    f"{totals['failed']} refused."
                )
                ctx.check_cancelled()
    except ChildError as exc:  # the client's own errors (token refused, retries exhausted)
        raise ShopifySyncFailed(f"Shopify: {exc}") from exc
    finally:
        client.close()
    return totals


def _chunks(rows: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _add_chunk(ctx, client, discount_id, chunk):
    data = client.execute(
        BULK_ADD,
        {"discountId": discount_id, "codes": [{"code": code} for _, code in chunk]},
        cost=BULK_ADD_COST,
    )
    payload = data.get("discountRedeemCodeBulkAdd") or {}
    errors = payload.get("userErrors") or []
    if errors or not payload.get("bulkCreation"):
        described = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        raise ShopifySyncFailed(f"Shopify refused the codes: {described or 'no bulk creation'}")
    creation = _wait_until_done(ctx, client, payload["bulkCreation"]["id"])
    return _map_results(chunk, creation), creation


def _wait_until_done(ctx, client, creation_id: str) -> dict:
    deadline = time.monotonic() + settings.SHOPIFY_BULK_CODES_TIMEOUT_SECONDS
    while True:
        data = client.execute(BULK_CREATION, {"id": creation_id}, cost=BULK_CREATION_COST)
        creation = data.get("discountRedeemCodeBulkCreation")
        if creation is None:
            raise ShopifySyncFailed(f"Shopify lost the bulk code creation {creation_id}.")
        if creation.get("done"):
            return creation
        if time.monotonic() >= deadline:
            raise ShopifySyncFailed(
                f"Shopify's bulk code creation {creation_id} was not done after "
                f"{settings.SHOPIFY_BULK_CODES_TIMEOUT_SECONDS:g} s."
            )
        ctx.check_cancelled()
        time.sleep(settings.SHOPIFY_BULK_CODES_POLL_SECONDS)


def _map_results(chunk, creation) -> list[tuple[int, str, str]]:
    """Each sent row with its outcome: Shopify's codes come back by text, in order."""
    by_code: dict[str, deque] = defaultdict(deque)
    for node in (creation.get("codes") or {}).get("nodes") or []:
        by_code[str(node.get("code", "")).casefold()].append(node)
    results = []
    for row_no, code in chunk:
        nodes = by_code.get(code.casefold())
        node = nodes.popleft() if nodes else None
        if node is None:
            results.append((row_no, "unknown", "Shopify did not report this code."))
            continue
        errors = node.get("errors") or []
        if errors:
            first = errors[0]
            results.append((row_no, str(first.get("code", "ERROR")), str(first.get("message", ""))))
        else:
            results.append((row_no, ADDED, ""))
    return results
