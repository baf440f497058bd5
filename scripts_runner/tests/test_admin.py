"""The admin: script catalog with runs, launcher forms rendered from parameters, launch → the
job's live log page."""

import pytest

from core.models import Job

# Every test here has a data directory of its own (launches resolve their paths in it).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dir")]


def test_the_catalog_lists_scripts_by_category_with_launch_links(console_client_for):
    response = console_client_for("operator").get("/admin/scripts_runner/scriptrun/")
    assert response.status_code == 200
    html = response.content.decode()
    for label in ("Data import", "Data processing", "Shopify", "Maintenance", "Workflows"):
        assert label in html
    assert "/admin/scripts_runner/scriptrun/launch/ftp_download/" in html
    assert "/admin/scripts_runner/scriptrun/launch/full_import/" in html
    assert "Recent runs" in html


def test_the_launcher_form_is_rendered_from_the_parameters(console_client_for):
    response = console_client_for("operator").get(
        "/admin/scripts_runner/scriptrun/launch/cleanup_duplicates/"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="folder"' in html and 'class="required"' in html
    assert 'type="checkbox" name="extensions" value="png"' in html
    assert '<option value="shortest_path">' in html
    assert 'name="max_distance"' in html and 'type="number"' in html
    assert '<option value="true" selected>Yes</option>' in html  # dry_run defaults to yes


def test_launching_starts_the_job_and_opens_its_live_log(console_client_for, data_dir):
    (data_dir / "img").mkdir()
    client = console_client_for("operator")
    response = client.post(
        "/admin/scripts_runner/scriptrun/launch/cleanup_duplicates/",
        {
            "folder": "img",
            "extensions": ["png", "jpg"],
            "keep": "oldest",
            "dry_run": "true",
            "max_distance": "6",
            "perceptual": "false",
        },
    )
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/core/job/{job.pk}/change/"
    assert job.owner == client.user
    params = job.params["parameters"]
    assert params["extensions"] == ["png", "jpg"]
    assert params["max_distance"] == 6 and params["dry_run"] is True
    assert params["folder"] == str((data_dir / "img").resolve())
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Live log" in page.content.decode()


def test_invalid_values_come_back_on_the_form_with_every_problem(console_client_for):
    response = console_client_for("operator").post(
        "/admin/scripts_runner/scriptrun/launch/cleanup_duplicates/",
        {"folder": "../etc", "max_distance": "99", "keep": "random"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "&#x27;..&#x27; is not allowed in paths." in html
    assert "Must be at most 32." in html
    assert "Must be one of: oldest, newest, shortest_path." in html
    assert 'value="99"' in html  # what was typed is kept
    assert not Job.objects.exists()


def test_viewers_see_the_catalog_but_cannot_launch(console_client_for):
    viewer = console_client_for("viewer")
    page = viewer.get("/admin/scripts_runner/scriptrun/launch/emit_lines/")
    assert page.status_code == 200
    assert "may view scripts but not run them" in page.content.decode()
    response = viewer.post("/admin/scripts_runner/scriptrun/launch/emit_lines/", {"lines": "5"})
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_an_unknown_script_is_404(console_client_for):
    assert (
        console_client_for("operator")
        .get("/admin/scripts_runner/scriptrun/launch/nope/")
        .status_code
        == 404
    )


def test_a_run_in_the_list_links_to_the_job_page(console_client_for):
    client = console_client_for("operator")
    client.post("/admin/scripts_runner/scriptrun/launch/emit_lines/", {"lines": "2"})
    job = Job.objects.get()
    listing = client.get("/admin/scripts_runner/scriptrun/").content.decode()
    assert f"/admin/core/job/{job.pk}/change/" in listing
    assert "emit_lines" in listing
    redirect = client.get(f"/admin/scripts_runner/scriptrun/{job.pk}/change/")
    assert redirect.status_code == 302
    assert redirect["Location"] == f"/admin/core/job/{job.pk}/change/"
