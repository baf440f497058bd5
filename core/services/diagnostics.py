"""The `diagnostics.echo` job: an operator's smoke test of the whole pipeline (API → broker →
worker → database → live stream). It prints numbered lines at a given pace and can be told to
fail. The latency benchmark and the end-to-end tests use it too, also to prove what happens
when a worker dies mid-job: it is safe to re-run and resumes after its last checkpoint, unless
asked to behave like a job with an outside effect (`unsafe`)."""

import contextlib
import time

from .jobs import JobContext

PROGRESS_EVERY = 100
#: A checkpoint is one UPDATE of the job row: at most this often, so a burst of lines is not
#: slowed down by them (every 100 lines cost a 100k-line burst 4 s of its 1 s).
CHECKPOINT_SECONDS = 0.25


def echo_lines(ctx: JobContext) -> dict:
    """Print lines `1..lines` (each with its emit time), `interval_ms` apart."""
    lines = int(ctx.params.get("lines", 10))
    interval = float(ctx.params.get("interval_ms", 0)) / 1000
    fail_at = ctx.params.get("fail_at_line")
    _wait(ctx, float(ctx.params.get("delay_ms", 0)) / 1000)
    first = ctx.checkpoint.get("line", 0) + 1
    if first > 1:
        ctx.log(f"resuming after line {first - 1} (attempt {ctx.attempt})")
    section = (
        ctx.unsafe_to_rerun("echoing (asked to act as an outside effect)")
        if ctx.params.get("unsafe")
        else contextlib.nullcontext()
    )
    started = time.time()
    saved = time.monotonic()
    with section:
        for number in range(first, lines + 1):
            if (
                _echo(ctx, number, lines, fail_at)
                and time.monotonic() - saved >= CHECKPOINT_SECONDS
            ):
                ctx.save_checkpoint({"line": number})
                saved = time.monotonic()
            if interval:
                time.sleep(interval)
    return {"lines": lines, "seconds": round(time.time() - started, 3)}


def _wait(ctx: JobContext, seconds: float) -> None:
    """An optional pause before the first line lets a client subscribe before output."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ctx.check_cancelled()
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def _echo(ctx: JobContext, number: int, lines: int, fail_at) -> bool:
    """Print line `number`; True at a progress point (where a checkpoint may be saved)."""
    # The emit time lets a subscriber measure log() → receipt latency.
    ctx.log(f"line {number} t={time.time():.6f}")
    if fail_at is not None and number == int(fail_at):
        raise RuntimeError(f"failing at line {number} as asked")
    if number % PROGRESS_EVERY == 0 or number == lines:
        ctx.progress(number * 100 // lines, phase="echo", lines_written=number)
        return True
    ctx.check_cancelled()
    return False
