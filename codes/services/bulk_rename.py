"""rename-codes: the listed codes become prefix + zero-padded number (`MOB-001`, `MOB-002`,
...), numbered from `rename_start` in list order, all in one set-based statement.

All or nothing: a listed code that does not exist, is listed twice, is used or revoked (its
text is in a customer's hands), or whose new name another code already has, is reported,
and then nothing is renamed (the job fails with the counts; the result file names each
problem). A code already renamed to its new name by an earlier attempt of the batch counts
as `renamed`, so a re-run converges. The old text is kept as `previous_code`.

Names may move inside the list (A→MOB-002 while MOB-002→MOB-003): the unique index checks
each row as it is written, so such a rename goes through temporary names first, in the same
transaction.
"""

from __future__ import annotations

import time

from django.db import connection, transaction
from django.utils import timezone

from core.exceptions import PlatformError

from ..models import CodeStatus
from ..rules import CODE_MAX_LENGTH
from . import fienta
from .batches import batch_of, save_batch
from .code_lists import index_probes, mark_not_found, outcome_counts, resolve, stage_list
from .code_lists import write_list_file as write_list
from .files import batch_file, relative_to_data
from .staging import Stage, copy_out

RENAMED = "renamed"
WOULD_RENAME = "would_rename"
UNCHANGED = "unchanged"
#: A row that could be renamed, held back because others cannot (all or nothing).
NOT_RENAMED = "not_renamed"
IN_USE = "in_use"
REVOKED = "revoked"
CONFLICT = "conflict"
TOO_LONG = "too_long"
#: Outcomes that do not stop the rename.
FINE = (RENAMED, UNCHANGED)
RENAME_MESSAGES = {
    IN_USE: "The code was handed out or used: its text is in a customer's hands.",
    REVOKED: "The code is revoked.",
    CONFLICT: "Another code already has the new name",
    TOO_LONG: f"The new name would be longer than {CODE_MAX_LENGTH} characters.",
    RENAMED: "Renamed by an earlier attempt of this batch.",
    NOT_RENAMED: "Not renamed: other listed codes cannot be renamed (all or nothing).",
}

STAGE_COLUMNS = [
    ("row_no", "bigint"),
    ("code", "text"),
    ("code_id", "uuid"),
    ("current_code", "text"),  # the code's stored text (the list may spell it otherwise)
    ("status", "text"),
    ("new_code", "text"),
    ("outcome", "text"),
    ("message", "text"),
]


class RenameRefused(PlatformError):
    code = "rename_refused"


def run_rename_codes_job(ctx) -> dict:
    """The `codes.rename` job (seed: fienta.rename_codes)."""
    batch = batch_of(ctx.job)
    params = ctx.params
    dry_run = bool(params.get("dry_run"))
    stage = Stage(batch.staging_table, STAGE_COLUMNS)
    ctx.progress(0, phase="reading")
    stage.create()
    total = stage_list(ctx, stage, params, len(STAGE_COLUMNS))
    ctx.check_cancelled()
    ctx.progress(40, phase="checking")
    started = time.monotonic()
    with index_probes(stage, total):
        _plan(stage, params)
    ctx.log(f"New names and conflicts checked in {time.monotonic() - started:.2f} s.")
    counts = outcome_counts(stage, WOULD_RENAME if dry_run else RENAMED)
    problems = {name: n for name, n in counts.items() if name not in (*FINE, WOULD_RENAME)}
    # All or nothing: with any problem, the other rows say they were held back, not renamed.
    ok = NOT_RENAMED if problems else (WOULD_RENAME if dry_run else RENAMED)
    if problems:
        counts = outcome_counts(stage, ok)
    ctx.check_cancelled()
    renamed = 0
    if not problems and not dry_run:
        ctx.progress(60, phase="renaming")
        started = time.monotonic()
        renamed = _apply(stage, batch)
        ctx.log(f"{renamed:,} codes renamed in {time.monotonic() - started:.2f} s.")
    result = _write_report(stage, batch, ok)
    save_batch(batch, total_rows=total, counts=counts, result_path=result)
    ctx.log("Outcomes: " + ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items())))
    summary = {"renamed": renamed, "applied": bool(renamed) or (not problems and not dry_run)}
    if problems:
        save_batch(batch, summary=summary)
        described = ", ".join(f"{name} {n:,}" for name, n in sorted(problems.items()))
        message = (
            f"{sum(problems.values()):,} of {total:,} listed codes cannot be renamed "
            f"({described}); nothing was renamed. The result file names each one."
        )
        if not dry_run:
            raise RenameRefused(message)
        ctx.log(message)
    else:
        ctx.progress(90, phase="fienta")
        list_file = batch_file(batch, "fienta_rename.csv")
        write_list(stage, list_file)
        flags = fienta.cli_flags(
            csv=str(list_file),
            renamePrefix=params["rename_prefix"],
            renamePadLength=params.get("rename_pad_length", 3),
            renameStart=params.get("rename_start", 1),
            headless=bool(params.get("headless")),
            dryRun=dry_run,
        )
        save_batch(batch, summary=summary)
        summary["fienta"] = fienta.run_fienta_cli(ctx, batch, flags, what="rename codes")
        save_batch(batch, summary=summary)
    stage.drop()
    return {"batch_id": batch.pk, "total_rows": total, "counts": counts, **summary}


def new_name_sql(number: str) -> str:
    """prefix + `number`, zero-padded to the length (never cut: 1000 stays 1000)."""
    text = f"({number})::text"
    return (
        f"%(prefix)s || CASE WHEN length({text}) >= %(pad)s THEN {text} "
        f"ELSE lpad({text}, %(pad)s, '0') END"
    )


def _plan(stage: Stage, params: dict) -> None:
    """Each row's new name and outcome (NULL: will be renamed), set-based."""
    table = stage.name
    values = {
        "prefix": params["rename_prefix"],
        "pad": int(params.get("rename_pad_length", 3)),
        "start": int(params.get("rename_start", 1)),
        "max_length": CODE_MAX_LENGTH,
        **{f"{name}_message": message for name, message in RENAME_MESSAGES.items()},
        "renamed": RENAMED,
        "unchanged": UNCHANGED,
        "in_use": IN_USE,
        "revoked": REVOKED,
        "conflict": CONFLICT,
        "too_long": TOO_LONG,
        "used": CodeStatus.USED,
        "revoked_status": CodeStatus.REVOKED,
    }
    new_name = new_name_sql("%(start)s + s.row_no - 1")
    with connection.cursor() as cursor:
        # Each UPDATE rewrites the rows it touches: the new name is set while resolving, and
        # only the other rows (blank, duplicate, not found) get it separately.
        resolve(
            stage,
            extra_set=f", status = c.status, current_code = c.code, new_code = {new_name}",
            extra_params=values,
        )
        cursor.execute(
            f"UPDATE {table} AS s SET new_code = {new_name} WHERE s.new_code IS NULL",  # noqa: S608
            values,
        )
        # Listed by its old name, renamed already by an earlier attempt of this batch.
        cursor.execute(
            f"""
            UPDATE {table} AS s SET outcome = %(renamed)s, message = %(renamed_message)s
            FROM codes_code AS c
            WHERE s.outcome IS NULL AND s.code_id IS NULL
              AND lower(c.code) = lower(s.new_code) AND lower(c.previous_code) = lower(s.code)
            """,  # noqa: S608
            values,
        )
        mark_not_found(stage)
        cursor.execute(
            f"""
            UPDATE {table} SET
              outcome = CASE
                WHEN length(new_code) > %(max_length)s THEN %(too_long)s
                WHEN status = %(used)s THEN %(in_use)s
                WHEN status = %(revoked_status)s THEN %(revoked)s
                WHEN new_code = code THEN %(unchanged)s
              END,
              message = CASE
                WHEN length(new_code) > %(max_length)s THEN %(too_long_message)s
                WHEN status = %(used)s THEN %(in_use_message)s
                WHEN status = %(revoked_status)s THEN %(revoked_message)s
              END
            WHERE outcome IS NULL AND (length(new_code) > %(max_length)s
                                       OR status IN (%(used)s, %(revoked_status)s)
                                       OR new_code = code)
            """,  # noqa: S608
            values,
        )
        stage.index("code_id")  # the conflict check's "renamed away in this list"
        # A new name another code has, unless that code is renamed away in this list.
        cursor.execute(
            f"""
            UPDATE {table} AS s
            SET outcome = %(conflict)s, message = %(conflict_message)s || ': ' || c.code
            FROM codes_code AS c
            WHERE s.outcome IS NULL AND lower(c.code) = lower(s.new_code) AND c.id <> s.code_id
              AND NOT EXISTS (
                  SELECT 1 FROM {table} AS moved
                  WHERE moved.code_id = c.id AND (moved.outcome IS NULL
                                                  OR moved.outcome = %(unchanged)s))
            """,  # noqa: S608
            values,
        )


def _apply(stage: Stage, batch) -> int:
    """Rename the planned rows in one transaction (through temporary names when a new name
    is an old name of the list); returns how many were renamed."""
    table = stage.name
    params = {"user": batch.created_by_id}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT EXISTS (
                SELECT 1 FROM (
                    SELECT lower(new_code) AS name, row_no FROM {table} WHERE outcome IS NULL
                    UNION ALL
                    SELECT lower(code), row_no FROM {table} WHERE outcome IS NULL
                ) AS names
                GROUP BY name HAVING count(DISTINCT row_no) > 1)
            """  # noqa: S608 - a new name that is another row's old name. A self-join here
            # was planned as a nested loop (an EXISTS hopes for an early match): minutes at
            # 100k rows; grouping is one pass (new names are distinct, listed codes too).
        )
        if cursor.fetchone()[0]:
            cursor.execute(
                f"UPDATE codes_code AS c SET code = 'rename~' || c.id::text "  # noqa: S608
                f"FROM {table} AS s WHERE c.id = s.code_id AND s.outcome IS NULL"
            )
        cursor.execute(
            f"""
            UPDATE codes_code AS c
            SET code = s.new_code, previous_code = s.current_code, updated_at = now(),
                updated_by_id = %(user)s
            FROM {table} AS s
            WHERE c.id = s.code_id AND s.outcome IS NULL
            """,  # noqa: S608
            params,
        )
        renamed = cursor.rowcount
        save_batch(batch, applied_at=timezone.now())
    return renamed


def _write_report(stage: Stage, batch, ok: str) -> str:
    query = (
        f"SELECT row_no AS row, code, new_code, COALESCE(outcome, %s) AS outcome, "  # noqa: S608
        f"COALESCE(message, CASE WHEN outcome IS NULL THEN %s END, '') AS message "
        f"FROM {stage.name} ORDER BY row_no"
    )
    held_back = RENAME_MESSAGES[NOT_RENAMED] if ok == NOT_RENAMED else ""
    return relative_to_data(copy_out(query, [ok, held_back], batch_file(batch, "results.csv")))
