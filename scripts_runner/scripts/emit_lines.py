"""`emit_lines`: a diagnostic that prints numbered lines as fast as it can (or at a pace).

Operators use it to check the whole path (API → worker → sandbox → log → live stream); the
benchmark in bench/bench_scripts.py measures first-line latency and lines/s with it.
"""

import sys
import time

from scripts_runner.services.parameters import BooleanParam, IntegerParam
from scripts_runner.services.registry import MAINTENANCE, Limits, Script, register

# Lines are written this many at a time when no pace is asked: one write per line would make
# the diagnostic measure the child's syscalls rather than the streaming path.
CHUNK = 256


@register
class EmitLines(Script):
    name = "emit_lines"
    rerun_safe = True  # prints only
    category = MAINTENANCE
    description = (
        "Diagnostic: print `lines` numbered lines (optionally `interval_ms` apart) with "
        "progress updates, to check streaming from the sandbox to the live log."
    )
    timeout = 300
    limits = Limits(cpu_seconds=120, memory_mb=512, file_size_mb=10, open_files=64)
    parameters = [
        IntegerParam("lines", default=100, min_value=1, max_value=1_000_000, help="How many."),
        IntegerParam(
            "interval_ms", default=0, min_value=0, max_value=10_000, help="Pause between lines."
        ),
        IntegerParam(
            "progress_every",
            default=0,
            min_value=0,
            max_value=1_000_000,
            help="Report progress every N lines (0: ten times in all).",
        ),
        BooleanParam("fail", default=False, help="Exit with an error after the last line."),
    ]

    def run(self, params, ctx):
        total = params["lines"]
        interval = params["interval_ms"] / 1000
        every = params["progress_every"] or max(1, total // 10)
        started = time.time()
        write = sys.stdout.write
        number = 0
        while number < total:
            # Up to the next progress point (or one line when paced), then flush.
            step = 1 if interval else min(CHUNK, every - number % every, total - number)
            write("".join(f"line {n}\n" for n in range(number + 1, number + step + 1)))
            number += step
            if number % every == 0 or number == total:
                ctx.progress(number * 100 // total, f"{number} lines")
            if interval:
                sys.stdout.flush()
                time.sleep(interval)
        sys.stdout.flush()
        if params["fail"]:
            print(f"failing after {total} lines as asked", file=sys.stderr)
            sys.exit(3)
        return {"lines": total, "seconds": round(time.time() - started, 3)}
