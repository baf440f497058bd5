"""`dev.py bench NAME [args]`: run bench/NAME.py against embedded (or configured) services."""

from __future__ import annotations

import sys

from devtools import ROOT, VAR_DIR, say
from devtools.procs import run_child
from devtools.services import embedded_services


def bench(args: list[str]) -> int:
    available = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py"))
    if not args or args[0].removesuffix(".py") not in available:
        say(f"usage: python3 dev.py bench NAME [args]; NAME is one of: {', '.join(available)}")
        return 2
    script = ROOT / "bench" / f"{args[0].removesuffix('.py')}.py"
    with embedded_services(VAR_DIR, persistent=False):
        return run_child([sys.executable, str(script), *args[1:]])
