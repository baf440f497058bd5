"""Find (or install) the Chromium the Playwright browser tests drive."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from devtools import rel, say

DEBIAN_CHROMIUM = Path("/usr/bin/chromium")


def ensure_chromium(log_dir: Path) -> str | None:
    """Return the Chromium executable for the browser tests, installing Debian's if needed.

    Order: $CHROMIUM_PATH (when executable), /usr/bin/chromium, then `apt-get install
    chromium` when apt exists and we are root (Playwright cannot download its own browser on
    these machines). Returns None when none is found; Playwright's own browser, if installed,
    is then the tests' last resort.
    """
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        if _is_executable(configured):
            return configured
        say(f"CHROMIUM_PATH={configured} is not an executable file; looking elsewhere")
    if _is_executable(DEBIAN_CHROMIUM):
        return str(DEBIAN_CHROMIUM)
    can_apt = shutil.which("apt-get") and os.geteuid() == 0
    if can_apt and _apt_install_chromium(log_dir) and _is_executable(DEBIAN_CHROMIUM):
        return str(DEBIAN_CHROMIUM)
    say("no Chromium found; browser tests will use Playwright's own browser if it has one")
    return None


def _apt_install_chromium(log_dir: Path) -> bool:
    """`apt-get update && apt-get install chromium`, quietly; True on success."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "apt-chromium.log"
    say(f"installing Debian's chromium for the browser tests (once; log in {rel(log)}) ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with open(log, "a") as out:
        for args in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "chromium"],
        ):
            result = subprocess.run(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
            if result.returncode != 0:
                say(f"`{' '.join(args)}` failed (exit {result.returncode}); see {rel(log)}")
                return False
    return True


def _is_executable(path: str | Path) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)
