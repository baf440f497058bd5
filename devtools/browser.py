"""Find (or install) the Chromium the Playwright browser tests drive."""

from __future__ import annotations

import contextlib
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


CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]


def chromium_for_tests() -> str | None:
    """The Chromium the browser tests launch: $CHROMIUM_PATH (set by `dev.py test`) or
    Debian's; None lets Playwright use its own browser, if it has one."""
    for candidate in (os.environ.get("CHROMIUM_PATH"), DEBIAN_CHROMIUM):
        if candidate and _is_executable(candidate):
            return str(candidate)
    return None


@contextlib.contextmanager
def admin_page(base_url: str, email: str, password: str, next_path: str):
    """A headless Chromium page logged into the Django admin, opened at `next_path`.

    Use the ORM only outside the `with` block: Playwright's sync API runs an event loop in
    this thread, where Django refuses synchronous database calls.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_for_tests(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            page.goto(f"{base_url}/admin/login/?next={next_path}")
            page.fill("#id_username", email)
            page.fill("#id_password", password)
            page.click("input[type=submit]")
            page.wait_for_url(f"**{next_path}")
            yield page
        finally:
            browser.close()
