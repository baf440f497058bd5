"""update-discount: a new discount percent for the listed codes, or for every code matching
a filter (the list filters of GET /api/codes), in one UPDATE.

Each row is `updated`, `unchanged` (it had that percent already), `not_found`,
`duplicate` or `blank`. The outcomes are computed before the UPDATE and committed with it,
together with the job's checkpoint: a re-run after a lost worker finds the change done and
only writes the report again.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import connection, transaction
from django.http import QueryDict
from django.utils import timezone

from core.exceptions import PlatformError

from ..filters import CodeFilter
from ..models import Code
from . import fienta
from .batches import batch_of, save_batch
from .code_lists import (
    mark_not_found,
    outcome_counts,
    resolve,
    stage_list,
    write_list_file,
)
from .files import batch_file, relative_to_data
from .staging import Stage, copy_out

UPDATED = "updated"
WOULD_UPDATE = "would_update"
UNCHANGED = "unchanged"

STAGE_COLUMNS = [
    ("row_no", "bigint"),
    ("code", "text"),
    ("code_id", "uuid"),
    ("old_percent", "numeric(5, 2)"),
    ("old_amount", "numeric(12, 2)"),
    ("outcome", "text"),
    ("message", "text"),
]


def filtered_codes(filters: dict):
    """The codes a filter selects (validated like the list's query string: a value or a list
    of values per name). A name the list does not know is refused: ignoring it would select
    every code."""
    unknown = sorted(str(name) for name in filters if name not in CodeFilter.base_filters)
    if unknown:
        known = ", ".join(sorted(CodeFilter.base_filters))
        raise PlatformError(
            f"Unknown filter {', '.join(unknown)}; the filters are {known}.",
            fields={"filter": {name: ["Unknown filter."] for name in unknown}},
        )
    data = QueryDict(mutable=True)
    nested = {}
    for name, value in filters.items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(item, dict | list) for item in values):
            nested[name] = ["A value or a list of values."]
        data.setlist(name, [_filter_text(item) for item in values])
    if nested:
        raise PlatformError("Invalid filter.", fields={"filter": nested})
    filterset = CodeFilter(data=data, queryset=Code.objects.all())
    if not filterset.is_valid():
        errors = {key: list(messages) for key, messages in filterset.errors.items()}
        raise PlatformError("Invalid filter.", fields={"filter": errors})
    return filterset.qs.order_by("id")


def _filter_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def run_update_discount_job(ctx) -> dict:
    """The `codes.update_discount` job (seed: fienta.update_discount)."""
    batch = batch_of(ctx.job)
    params = ctx.params
    dry_run = bool(params.get("dry_run"))
    percent = Decimal(str(params["discount_percent"]))
    stage = Stage(batch.staging_table, STAGE_COLUMNS)
    applied = ctx.checkpoint.get("applied") and stage.exists()
    if applied:
        ctx.log("The change was committed by an earlier attempt: writing its report.")
        total = batch.total_rows
    else:
        ctx.progress(0, phase="reading")
        stage.create()
        total = _stage(ctx, stage, params)
        ctx.check_cancelled()
        ctx.progress(40, phase="checking")
        _plan(stage, percent)
    ok = WOULD_UPDATE if dry_run else UPDATED
    updated = 0
    if not applied and not dry_run:
        ctx.progress(60, phase="updating")
        updated = _apply(ctx, stage, batch, percent, total)
        ctx.log(f"{updated:,} codes now have a {percent}% discount.")
    counts = outcome_counts(stage, ok)
    result = _write_report(stage, batch, ok)
    save_batch(batch, total_rows=total, counts=counts, result_path=result)
    ctx.log("Outcomes: " + ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items())))
    summary = {"discount_percent": str(percent), "updated": counts.get(UPDATED, 0)}
    save_batch(batch, summary=summary)
    ctx.progress(90, phase="fienta")
    list_file = batch_file(batch, "fienta_codes.csv")
    write_list_file(stage, list_file, where=f"outcome IS NULL OR outcome IN ('{UNCHANGED}')")
    flags = fienta.cli_flags(
        csv=str(list_file),
        updateDiscountPercent=percent,
        headless=bool(params.get("headless")),
        dryRun=dry_run,
    )
    summary["fienta"] = fienta.run_fienta_cli(ctx, batch, flags, what="update discounts")
    save_batch(batch, summary=summary)
    stage.drop()
    return {"batch_id": batch.pk, "total_rows": total, "counts": counts, **summary}


def _stage(ctx, stage: Stage, params: dict) -> int:
    if params.get("filter") is None:
        total = stage_list(ctx, stage, params, len(STAGE_COLUMNS))
        resolve(
            stage, extra_set=", old_percent = c.discount_percent, old_amount = c.discount_amount"
        )
        mark_not_found(stage)
        return total
    queryset = filtered_codes(params["filter"]).values_list(
        "code", "id", "discount_percent", "discount_amount"
    )
    sql, sql_params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {stage.name} (row_no, code, code_id, old_percent, old_amount) "  # noqa: S608
            "SELECT row_number() OVER (ORDER BY s.id), s.code, s.id, s.discount_percent, "
            f"s.discount_amount FROM ({sql}) AS s",
            sql_params,
        )
        total = cursor.rowcount
    stage.index("row_no", unique=True)
    ctx.log(f"{total:,} codes match the filter.")
    return total


def _plan(stage: Stage, percent: Decimal) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {stage.name} SET outcome = %s "  # noqa: S608
            "WHERE outcome IS NULL AND old_percent = %s AND old_amount IS NULL",
            [UNCHANGED, percent],
        )


def _apply(ctx, stage: Stage, batch, percent: Decimal, total: int) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE codes_code AS c
            SET discount_percent = %(percent)s, discount_amount = NULL, updated_at = now(),
                updated_by_id = %(user)s
            FROM {stage.name} AS s
            WHERE c.id = s.code_id AND s.outcome IS NULL
            """,  # noqa: S608
            {"percent": percent, "user": batch.created_by_id},
        )
        updated = cursor.rowcount
        save_batch(batch, applied_at=timezone.now(), total_rows=total)
        # Commits with the UPDATE: a re-run knows the change is done.
        ctx.save_checkpoint({"applied": True})
    return updated


def _write_report(stage: Stage, batch, ok: str) -> str:
    query = (
        f"SELECT row_no AS row, code, old_percent, old_amount, "  # noqa: S608
        f"COALESCE(outcome, %s) AS outcome, COALESCE(message, '') AS message "
        f"FROM {stage.name} ORDER BY row_no"
    )
    return relative_to_data(copy_out(query, [ok], batch_file(batch, "results.csv")))
