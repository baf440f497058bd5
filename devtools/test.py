"""`dev.py test [pytest args]`: the test-suite against embedded (or configured) services."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from devtools import VAR_DIR, say
from devtools.browser import ensure_chromium
from devtools.procs import run_child
from devtools.services import embedded_services

# pytest's "no tests were collected": a green run must have run tests.
NO_TESTS_COLLECTED = 5
# Arguments after which pytest only prints information: no browser needed. Services still
# are, since loading the Django settings (pytest-django does) reads DATABASE_URL.
INFO_ONLY = {"--version", "-V", "-h", "--help", "--markers", "--fixtures"}


def test(args: list[str]) -> int:
    """Run pytest with `args`; return its exit code (5, no tests collected, becomes 1)."""
    if not INFO_ONLY & set(args):
        chromium = ensure_chromium(VAR_DIR / "log")
        if chromium:
            os.environ["CHROMIUM_PATH"] = chromium
    with (
        _one_test_run_at_a_time(VAR_DIR / "test.lock"),
        embedded_services(VAR_DIR, persistent=False),
    ):
        code = run_child([sys.executable, "-m", "pytest", *args])
    if code == NO_TESTS_COLLECTED:
        say("pytest collected no tests: failing, since a passing run must have run tests")
        return 1
    return code


@contextlib.contextmanager
def _one_test_run_at_a_time(path: Path) -> Iterator[None]:
    """Serialise `dev.py test` runs of this checkout.

    Two runs at once would share the server and so pytest-django's `test_platform` database:
    the second would drop it under the first. A `dev.py run` alongside is fine.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another `dev.py test` is running in this checkout: waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
