"""The `diagnostics.echo` job: an operator's smoke test of the whole pipeline (API → broker →
worker → database → live stream). It prints numbered lines at a given pace and can be told to
fail. The latency benchmark and the end-to-end tests use it too."""

import time

from .jobs import JobContext


def echo_lines(ctx: JobContext) -> dict:
    """Print `lines` numbered lines (each with its emit time), `interval_ms` apart."""
    lines = int(ctx.params.get("lines", 10))
    interval = float(ctx.params.get("interval_ms", 0)) / 1000
    fail_at = ctx.params.get("fail_at_line")
    # An optional pause before the first line lets a client subscribe before output starts.
    delay = float(ctx.params.get("delay_ms", 0)) / 1000
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        ctx.check_cancelled()
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    started = time.time()
    for number in range(1, lines + 1):
        # The emit time lets a subscriber measure log() → receipt latency.
        ctx.log(f"line {number} t={time.time():.6f}")
        if fail_at is not None and number == int(fail_at):
            raise RuntimeError(f"failing at line {number} as asked")
        if number % 100 == 0 or number == lines:
            ctx.progress(number * 100 // lines, phase="echo", lines_written=number)
        else:
            ctx.check_cancelled()
        if interval:
            time.sleep(interval)
    return {"lines": lines, "seconds": round(time.time() - started, 3)}
