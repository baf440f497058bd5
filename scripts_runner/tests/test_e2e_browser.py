"""In headless Chromium: the script catalog → launcher form → the job's live log page."""

import shutil

import pytest
from django.conf import settings

from core.models import Job, User
from devtools.browser import admin_page

PASSWORD = "Br0wser-scripts-pass!"


@pytest.mark.browser
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_launching_from_the_admin_opens_the_live_log(asgi_server, celery_worker_process):
    from playwright.sync_api import expect

    User.objects.create_superuser(email="scripts-browser@example.com", password=PASSWORD)
    base = asgi_server.base_url
    with admin_page(
        base, "scripts-browser@example.com", PASSWORD, "/admin/scripts_runner/scriptrun/"
    ) as page:
        expect(page.locator("#script-catalog")).to_contain_text("ftp_download")

        page.click("a[href$='/launch/emit_lines/']")
        page.wait_for_url("**/launch/emit_lines/")
        page.fill("input[name=lines]", "40")
        page.fill("input[name=interval_ms]", "20")
        page.click("#script-launch-form input[type=submit]")

        page.wait_for_url("**/admin/core/job/*/change/")
        expect(page.locator("#job-log")).to_contain_text("line 40", timeout=60_000)
        expect(page.locator("#job-status")).to_have_text("completed", timeout=30_000)
        expect(page.locator("#job-progress-label")).to_have_text("100%")
        log = page.locator("#job-log").inner_text()
    printed = [line for line in log.splitlines() if line.startswith("line ")]
    assert printed == [f"line {n}" for n in range(1, 41)]
    for job in Job.objects.filter(kind="scripts.run"):
        shutil.rmtree(settings.DATA_DIR / "script_runs" / str(job.pk), ignore_errors=True)
