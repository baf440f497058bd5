"""create-codes: codes from a CSV/XLSX file or a pattern, a million rows in set-based SQL.

1. Stage: the rows stream into the batch's unlogged table through COPY. Checks that need
   only the row itself are made on the way (blank, too long, bad characters, type,
   discount, expiry, campaign), in the same pass that reads the file.
2. Check, set-based: `duplicate` (the same code earlier in the file, any letter case),
   `taken` (a code with that text exists). A code this batch created already (an earlier
   attempt of the job) counts as `created`: re-running the batch converges.
3. Apply: one `INSERT ... SELECT ... ON CONFLICT DO NOTHING`, in file order (UUIDv7 ids, so
   allocation hands codes out in that order). A row another writer took meanwhile is
   reported `taken`.
4. Report: the per-row result file (row, code, outcome, message [, shopify, shopify_message])
   and the counts on the batch; then Shopify (when a discount is named and a store is
   configured) and the Fienta CLI (when configured), each an outside effect.

A dry run does 1, 2 and 4 (outcome `would_create`) and runs the CLI with --dryRun.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ..exceptions import CodeFileError
from ..ids import uuid7_run_sql
from ..models import CodeType
from ..rules import (
    CAMPAIGN_MAX_LENGTH,
    CODE_TYPE_RE,
    CREATED,
    DUPLICATE,
    INVALID_CAMPAIGN,
    INVALID_DISCOUNT,
    INVALID_EXPIRY,
    INVALID_TYPE,
    PROBLEM_MESSAGES,
    TAKEN,
    WOULD_CREATE,
    code_problem,
)
from . import fienta, shopify
from .batches import batch_of, save_batch
from .create_fast import stage_csv_fast
from .files import (
    batch_file,
    find_column,
    input_path,
    open_table,
    relative_to_data,
    table_format,
)
from .patterns import DEFAULT_CHARSET, batch_key, generate_codes
from .pool import check_pools
from .staging import Stage, copy_out

CODE_COLUMNS = ("code", "codes", "discount_code", "coupon_code", "coupon")
TYPE_COLUMNS = ("code_type", "type")
PERCENT_COLUMNS = ("discount_percent", "discount", "percent", "percentage")
AMOUNT_COLUMNS = ("discount_amount", "amount")
CAMPAIGN_COLUMNS = ("campaign", "event", "event_id")
EXPIRY_COLUMNS = ("expires_at", "expiry", "expires", "expiry_date", "valid_until")

STAGE_COLUMNS = [
    ("row_no", "bigint"),
    ("code", "text"),
    ("code_type", "text"),
    ("discount_percent", "numeric(5, 2)"),
    ("discount_amount", "numeric(12, 2)"),
    ("campaign", "text"),
    ("expires_at", "timestamptz"),
    ("outcome", "text"),
    ("message", "text"),
]
SHOPIFY_COLUMNS = [("row_no", "bigint"), ("outcome", "text"), ("message", "text")]
#: Pattern codes taken already are replaced by new draws, at most this many rounds.
PATTERN_ROUNDS = 10
_HUNDRED = Decimal(100)
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Defaults:
    """Values for rows (or a pattern) that name none."""

    code_type: str
    discount_percent: Decimal | None
    discount_amount: Decimal | None
    campaign: str
    expires_at: dt.datetime | None

    @classmethod
    def from_params(cls, params: dict) -> Defaults:
        def decimal(name):
            return Decimal(params[name]) if params.get(name) not in (None, "") else None

        expires = params.get("expires_at")
        return cls(
            code_type=params.get("code_type") or settings.CODES_DEFAULT_CODE_TYPE,
            discount_percent=decimal("discount_percent"),
            discount_amount=decimal("discount_amount"),
            campaign=params.get("campaign") or "",
            expires_at=dt.datetime.fromisoformat(expires) if expires else None,
        )


def run_create_codes_job(ctx) -> dict:
    """The `codes.create` job (seed: fienta.create_codes)."""
    batch = batch_of(ctx.job)
    params = ctx.params
    dry_run = bool(params.get("dry_run"))
    stage = Stage(batch.staging_table, STAGE_COLUMNS)
    defaults = Defaults.from_params(params)
    ctx.progress(0, phase="reading")
    started = time.monotonic()
    stage.create()
    if params.get("pattern"):
        total = _stage_pattern(ctx, batch, stage, params, defaults)
    else:
        total = _stage_file(ctx, stage, input_path(params["csv_path"]), defaults)
        ctx.log(f"Staged in {time.monotonic() - started:.2f} s.")
        started = time.monotonic()
        _check_rows(stage, batch.pk)
        ctx.log(f"Duplicates and taken codes checked in {time.monotonic() - started:.2f} s.")
    ctx.check_cancelled()
    created = 0
    if not dry_run:
        ctx.progress(60, phase="writing")
        started = time.monotonic()
        created = _apply(stage, batch)
        ctx.log(f"{created:,} codes created in {time.monotonic() - started:.2f} s.")
    ctx.progress(80, phase="reporting")
    started = time.monotonic()
    counts = _counts(stage, WOULD_CREATE if dry_run else CREATED)
    result = _write_report(stage, batch, dry_run, has_shopify=False)
    ctx.log(f"Result file written in {time.monotonic() - started:.2f} s.")
    save_batch(batch, total_rows=total, counts=counts, result_path=result)
    ctx.log("Outcomes: " + ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items())))
    summary = {"codes_created": created}
    summary["shopify"] = _shopify_step(ctx, batch, stage, params, dry_run)
    if summary["shopify"].get("status") == "completed":
        save_batch(batch, result_path=_write_report(stage, batch, dry_run, has_shopify=True))
    save_batch(batch, summary={**batch.summary, **summary})
    ctx.progress(95, phase="fienta")
    summary["fienta"] = _fienta_step(ctx, batch, stage, params, dry_run)
    save_batch(batch, summary={**batch.summary, **summary})
    stage.drop()
    return {"batch_id": batch.pk, "total_rows": total, "counts": counts, **summary}


# --- 1. staging -------------------------------------------------------------------------


class RowReader:
    """Turns one file row into a staging tuple, with the checks that need only the row."""

    def __init__(self, header, defaults: Defaults):
        self.defaults = defaults
        self.code = find_column(header, CODE_COLUMNS)
        if self.code is None:
            if len(header) != 1:
                raise CodeFileError(
                    "The file has no code column (named code, discount_code or coupon_code)."
                )
            self.code = 0
            self.headerless = True  # a one-column file of codes: its first line is a code
        else:
            self.headerless = False
        self.code_type = find_column(header, TYPE_COLUMNS)
        self.percent = find_column(header, PERCENT_COLUMNS)
        self.amount = find_column(header, AMOUNT_COLUMNS)
        self.campaign = find_column(header, CAMPAIGN_COLUMNS)
        self.expiry = find_column(header, EXPIRY_COLUMNS)

    @staticmethod
    def _cell(values, index):
        if index is None or index >= len(values):
            return None
        value = values[index]
        return value.strip() if isinstance(value, str) else value

    def row(self, row_no: int, values) -> tuple:
        defaults = self.defaults
        code = self._cell(values, self.code) or ""
        outcome = code_problem(code)
        code_type = (self._cell(values, self.code_type) or defaults.code_type).lower()
        if outcome is None and not CODE_TYPE_RE.fullmatch(code_type):
            outcome = INVALID_TYPE
        percent = amount = None
        raw_percent = self._cell(values, self.percent)
        raw_amount = self._cell(values, self.amount)
        if raw_percent:
            percent = parse_percent(raw_percent)
            if percent is None and outcome is None:
                outcome = INVALID_DISCOUNT
        if raw_amount:
            amount = parse_amount(raw_amount)
            if (amount is None or percent is not None) and outcome is None:
                outcome = INVALID_DISCOUNT
        if not raw_percent and not raw_amount:
            percent, amount = defaults.discount_percent, defaults.discount_amount
        campaign = self._cell(values, self.campaign) or defaults.campaign
        if len(campaign) > CAMPAIGN_MAX_LENGTH and outcome is None:
            outcome = INVALID_CAMPAIGN
        raw_expiry = self._cell(values, self.expiry)
        expires = parse_expiry(raw_expiry) if raw_expiry else defaults.expires_at
        if raw_expiry and expires is None and outcome is None:
            outcome = INVALID_EXPIRY
        if outcome is not None:
            return (
                row_no,
                code,
                code_type[:64],
                None,
                None,
                None,
                None,
                outcome,
                PROBLEM_MESSAGES[outcome],
            )
        return (row_no, code, code_type, percent, amount, campaign, expires, None, None)


def parse_percent(text: str) -> Decimal | None:
    text = text.strip().rstrip("%").strip().replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or not 0 <= value <= _HUNDRED or value != value.quantize(_CENT):
        return None
    return value


def parse_amount(text: str) -> Decimal | None:
    text = text.strip().replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value >= Decimal("1e10"):
        return None
    return value.quantize(_CENT) if value == value.quantize(_CENT) else None


def parse_expiry(text: str) -> dt.datetime | None:
    """An ISO 8601 date-time (UTC when it names no offset), or a date: valid through that
    day, i.e. expiring at the start of the next one (UTC)."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        value = dt.datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _stage_file(ctx, stage: Stage, path, defaults: Defaults) -> int:
    limit = settings.CODES_BULK_MAX_ROWS
    with open_table(path) as reader:
        rows = RowReader(reader.header, defaults)
        ctx.log(f"Reading {path.name}: columns {', '.join(map(str, reader.header))}.")

        def progress(count):
            ctx.progress(40 * reader.fraction(), phase="reading", rows=count)

        if table_format(path) == "csv":
            fraction = lambda value: ctx.progress(40 * value, phase="reading")  # noqa: E731
            total = stage_csv_fast(ctx, stage, reader, rows, defaults, fraction)
            if total is not None:
                _index_stage(stage)
                ctx.log(f"{total:,} rows read.")
                return total
            reader.restart()

        def staged():
            if rows.headerless:
                yield rows.row(1, reader.header)
            offset = 1 if rows.headerless else 0
            for number, values in reader.rows():
                if number + offset > limit:
                    raise CodeFileError(f"The file has more than {limit:,} rows.")
                if any(value not in (None, "") for value in values):
                    yield rows.row(number + offset, values)

        total = stage.copy_in(staged(), on_chunk=progress)
    _index_stage(stage)
    ctx.log(f"{total:,} rows read.")
    return total


def _index_stage(stage: Stage) -> None:
    stage.index("row_no", unique=True)


def _stage_pattern(ctx, batch, stage: Stage, params: dict, defaults: Defaults) -> int:
    """Stage `count` generated codes; codes taken already are replaced by new draws."""
    pattern, count = params["pattern"], int(params["count"])
    charset = params.get("charset") or DEFAULT_CHARSET
    codes = generate_codes(pattern, charset, key=batch_key(settings.SECRET_KEY, batch.pk))
    ctx.log(f"Generating {count:,} codes from {pattern} ({len(charset)} characters per #).")
    staged, wanted, replaced = 0, count, 0
    for _round in range(PATTERN_ROUNDS):
        first = staged
        rows = (
            (
                first + n,
                code,
                defaults.code_type,
                defaults.discount_percent,
                defaults.discount_amount,
                defaults.campaign,
                defaults.expires_at,
                None,
                None,
            )
            for n, code in zip(range(1, wanted + 1), codes, strict=False)
        )
        added = stage.copy_in(rows, on_chunk=lambda n: ctx.progress(30 * n / count))
        if first == 0:
            _index_stage(stage)
        staged += added
        _check_rows(stage, batch.pk, after=first)
        wanted = _drop_taken(stage, after=first)
        replaced += wanted
        if not wanted or added == 0:
            break
        ctx.log(f"{wanted:,} generated codes exist already: drawing replacements.")
    if wanted:
        ctx.log(f"The pattern ran out: {wanted:,} codes short of {count:,}.")
    return staged - replaced


def _drop_taken(stage: Stage, *, after: int) -> int:
    """Pattern mode: generated codes that exist already are not rows of the user's; they
    are removed (and replaced by new draws)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {stage.name} WHERE row_no > %s AND outcome = %s",  # noqa: S608
            [after, TAKEN],
        )
        return cursor.rowcount


# --- 2. set-based checks ----------------------------------------------------------------


def _check_rows(stage: Stage, batch_id: int, *, after: int = 0) -> None:
    """`duplicate` and `taken` for the staged rows after row `after`, in two statements."""
    table = stage.name
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS s SET outcome = %(duplicate)s, message = %(duplicate_message)s
            FROM (
                SELECT row_no, row_number() OVER (PARTITION BY lower(code) ORDER BY row_no) AS n
                FROM {table} WHERE outcome IS NULL
            ) AS d
            WHERE s.row_no = d.row_no AND d.n > 1 AND s.row_no > %(after)s
            """,  # noqa: S608 - the staging table's name is ours
            {
                "duplicate": DUPLICATE,
                "duplicate_message": PROBLEM_MESSAGES[DUPLICATE],
                "after": after,
            },
        )
        cursor.execute(
            f"""
            UPDATE {table} AS s
            SET outcome = CASE WHEN c.batch_id = %(batch)s THEN %(created)s ELSE %(taken)s END,
                message = CASE WHEN c.batch_id = %(batch)s THEN NULL
                               ELSE %(taken_message)s || ' (' || c.code || ')' END
            FROM codes_code AS c
            WHERE lower(c.code) = lower(s.code) AND s.outcome IS NULL AND s.row_no > %(after)s
            """,  # noqa: S608
            {
                "batch": batch_id,
                "created": CREATED,
                "taken": TAKEN,
                "taken_message": PROBLEM_MESSAGES[TAKEN],
                "after": after,
            },
        )


# --- 3. apply ---------------------------------------------------------------------------

_INSERT_SQL = """
WITH inserted AS (
    INSERT INTO codes_code (
        id, code, code_type, status, discount_percent, discount_amount, campaign, expires_at,
        reference, revoked_reason, previous_code, metadata, batch_id, created_by_id,
        updated_by_id, created_at, updated_at)
    SELECT {uuid7}, s.code, s.code_type, 'available',
           CASE WHEN s.discount_percent IS NULL AND s.discount_amount IS NULL
                THEN t.default_discount_percent ELSE s.discount_percent END,
           s.discount_amount, s.campaign, s.expires_at, '', '', '', '{{}}', %(batch)s,
           %(user)s, %(user)s, now(), now()
    FROM {table} AS s JOIN codes_codetype AS t ON t.slug = s.code_type
    WHERE s.outcome IS NULL
    ORDER BY s.row_no
    {on_conflict}
    RETURNING 1
)
SELECT count(*) FROM inserted
"""


def _apply(stage: Stage, batch) -> int:
    """Insert the rows that passed, in one statement; returns how many were created now."""
    table = stage.name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO codes_codetype (slug, name, low_water_mark, default_discount_percent,
                                        shopify_discount_id, pool_low_since, created_at,
                                        updated_at)
            SELECT DISTINCT code_type, '', %s, NULL::numeric, '', NULL::timestamptz, now(), now()
            FROM {table} WHERE outcome IS NULL
            ON CONFLICT DO NOTHING
            """,  # noqa: S608
            [settings.CODES_DEFAULT_LOW_WATER_MARK],
        )
        cursor.execute(f"SELECT DISTINCT code_type FROM {table} WHERE outcome IS NULL")  # noqa: S608
        types = [row[0] for row in cursor.fetchall()]
        # Codes have no database foreign key to their type (codes.models.code): the types
        # they name are held until this commits, so none of them can be deleted meanwhile.
        cursor.execute(
            "SELECT slug FROM codes_codetype WHERE slug = ANY(%s) ORDER BY slug FOR KEY SHARE",
            [types],
        )
        uuid7_sql, params = uuid7_run_sql("s.row_no")
        params.update(batch=batch.pk, user=batch.created_by_id)
        try:
            # A plain INSERT first: ON CONFLICT's speculative insertion costs a third of the
            # statement. A code another writer created since the check is the rare case:
            # then the same rows again with ON CONFLICT DO NOTHING.
            with transaction.atomic():
                cursor.execute(
                    _INSERT_SQL.format(uuid7=uuid7_sql, table=table, on_conflict=""), params
                )
        except IntegrityError:
            cursor.execute(
                _INSERT_SQL.format(
                    uuid7=uuid7_sql, table=table, on_conflict="ON CONFLICT DO NOTHING"
                ),
                params,
            )
        created = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM {table} WHERE outcome IS NULL")  # noqa: S608
        if cursor.fetchone()[0] != created:
            # Someone else created some of these codes meanwhile.
            cursor.execute(
                f"""
                UPDATE {table} AS s SET outcome = %(taken)s, message = %(message)s
                WHERE s.outcome IS NULL AND NOT EXISTS (
                    SELECT 1 FROM codes_code AS c
                    WHERE lower(c.code) = lower(s.code) AND c.batch_id = %(batch)s)
                """,  # noqa: S608
                {"taken": TAKEN, "message": PROBLEM_MESSAGES[TAKEN], "batch": batch.pk},
            )
        save_batch(batch, applied_at=timezone.now())
        # The new codes may end a shortage: re-arm pool_low of their types.
        check_pools(types)
    return created


# --- 4. report and outside effects --------------------------------------------------------


def _counts(stage: Stage, ok: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COALESCE(outcome, %s), count(*) FROM {stage.name} GROUP BY 1",  # noqa: S608
            [ok],
        )
        return {outcome: count for outcome, count in cursor.fetchall()}


def _write_report(stage: Stage, batch, dry_run: bool, *, has_shopify: bool) -> str:
    ok = WOULD_CREATE if dry_run else CREATED
    shopify_columns = shopify_join = ""
    if has_shopify:
        shopify_columns = (
            ", COALESCE(h.outcome, '') AS shopify, COALESCE(h.message, '') AS shopify_message"
        )
        shopify_join = f"LEFT JOIN {stage.name}_shopify AS h ON h.row_no = s.row_no"
    query = (
        f"SELECT s.row_no AS row, s.code, COALESCE(s.outcome, %s) AS outcome, "  # noqa: S608
        f"COALESCE(s.message, '') AS message{shopify_columns} "
        f"FROM {stage.name} AS s {shopify_join} ORDER BY s.row_no"
    )
    path = copy_out(query, [ok], batch_file(batch, "results.csv"))
    return relative_to_data(path)


def _shopify_step(ctx, batch, stage: Stage, params: dict, dry_run: bool) -> dict:
    discount_id = params.get("shopify_discount_id") or _type_discount(params)
    if not discount_id:
        return {"status": "not_requested"}
    if not shopify.shopify_configured():
        ctx.log("Shopify: no store is configured (SHOPIFY_SHOP_DOMAIN); codes not added.")
        return {"status": "not_configured", "discount_id": discount_id}
    if dry_run:
        ctx.log(f"Shopify: dry run, nothing added to {discount_id}.")
        return {"status": "dry_run", "discount_id": discount_id}
    results = Stage(f"{stage.name}_shopify", SHOPIFY_COLUMNS)
    results.create()
    ctx.progress(85, phase="shopify")
    totals = shopify.add_codes(
        ctx,
        discount_id,
        _created_rows(stage, batch),
        on_results=lambda rows: results.copy_in(rows),
    )
    return {"status": "completed", "discount_id": discount_id, **totals}


def _type_discount(params: dict) -> str:
    slug = params.get("code_type") or settings.CODES_DEFAULT_CODE_TYPE
    return (
        CodeType.objects.filter(slug=slug).values_list("shopify_discount_id", flat=True).first()
        or ""
    )


def _created_rows(stage: Stage, batch):
    """(row number, code) of the rows this batch created, in file order, read in pages."""
    after = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT row_no, code FROM {stage.name} "  # noqa: S608
                "WHERE (outcome IS NULL OR outcome = %s) AND row_no > %s "
                "ORDER BY row_no LIMIT 5000",
                [CREATED, after],
            )
            rows = cursor.fetchall()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def _fienta_step(ctx, batch, stage: Stage, params: dict, dry_run: bool) -> dict:
    if not fienta.fienta_configured():
        return fienta.run_fienta_cli(ctx, batch, [], what="create codes")
    ok = "s.outcome IS NULL" if dry_run else f"s.outcome IS NULL OR s.outcome = '{CREATED}'"
    path = copy_out(
        "SELECT s.code, s.code_type AS type, s.discount_percent, s.discount_amount, "  # noqa: S608
        f"s.campaign, s.expires_at FROM {stage.name} AS s WHERE {ok} ORDER BY s.row_no",
        None,
        batch_file(batch, "fienta_codes.csv"),
    )
    flags = fienta.cli_flags(csv=str(path), headless=bool(params.get("headless")), dryRun=dry_run)
    return fienta.run_fienta_cli(ctx, batch, flags, what="create codes")
