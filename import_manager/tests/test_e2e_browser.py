"""The admin import page in headless Chromium: upload, live progress to 100%, products."""

import shutil
from pathlib import Path

import pytest
from django.conf import settings

from core.models import User
from devtools.browser import admin_page
from import_manager.models import ImportRun

from .helpers import write_csv

PASSWORD = "Br0wser-test-pass!"


@pytest.mark.browser
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_admin_uploads_a_csv_and_watches_it_reach_100_percent(
    asgi_server, celery_worker_process, tmp_path
):
    from playwright.sync_api import expect

    User.objects.create_superuser(email="importer@example.com", password=PASSWORD)
    rows = [[f"BRW-{i}", f"Browser item {i}", "", f"{i}.50", "true"] for i in range(1, 6)]
    rows.append(["BRW-BAD", "Bad price", "", "twelve", "true"])
    path = write_csv(tmp_path / "browser.csv", rows)
    base = asgi_server.base_url

    with admin_page(
        base, "importer@example.com", PASSWORD, "/admin/import_manager/importrun/new/"
    ) as page:
        page.set_input_files("#import-file", str(path))
        page.click("#import-submit")

        page.wait_for_function(
            "document.getElementById('job-progress').value === 100", timeout=90_000
        )
        expect(page.locator("#job-progress-label")).to_have_text("100%")
        expect(page.locator("#job-status")).to_have_text("completed", timeout=30_000)
        expect(page.locator("#count-success")).to_have_text("5")
        expect(page.locator("#count-errors")).to_have_text("1")
        expect(page.locator("#import-errors tbody tr")).to_have_count(1)
        expect(page.locator("#import-errors tbody")).to_contain_text("is not a number")

        page.click("#import-products-link")
        page.wait_for_url("**/admin/product/product/**")
        for i in range(1, 6):
            expect(page.locator("#result_list")).to_contain_text(f"BRW-{i}")
    # (outside Playwright's block: its event loop forbids the ORM)
    for run in ImportRun.objects.all():
        shutil.rmtree((Path(settings.DATA_DIR) / run.stored_path).parent, ignore_errors=True)
