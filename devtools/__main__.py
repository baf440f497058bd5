"""`python -m devtools run|test [args]`: what dev.py hands over to inside the venv."""

import signal
import sys

USAGE = "usage: python -m devtools run | test [pytest args] | bench NAME [args]"


def _exit_on_sigterm(signum, frame):
    # Default SIGTERM ends Python without running `finally`/atexit, which would leave the
    # embedded servers running. Raising SystemExit unwinds the context managers instead.
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    """Dispatch to the `run` or `test` command and return its exit code."""
    if not argv or argv[0] not in ("run", "test", "bench"):
        print(USAGE, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if argv[0] == "run":
        from devtools.run import run

        return run(argv[1:])
    if argv[0] == "bench":
        from devtools.bench import bench

        return bench(argv[1:])
    from devtools.test import test

    return test(argv[1:])


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
