"""The admin as the operator console: named after the platform, a home page with the figures
and common actions the apps register, and a job page that opens on its live log."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import JobStatus
from core.services import console
from core.testing.helpers import make_job

pytestmark = pytest.mark.django_db

FIGURE_RE = re.compile(
    r'data-figure="(?P<key>[\w.]+)"(?: href="(?P<url>[^"]*)")?>\s*'
    r'<span class="console-figure-value">(?P<value>[\d,]+)</span>\s*'
    r'<span class="console-figure-label">(?P<label>[^<]+)</span>'
)
ACTION_RE = re.compile(r'data-action="(?P<key>[\w.]+)" href="(?P<url>[^"]*)">(?P<label>[^<]+)<')


def home_figures(client) -> dict[str, dict]:
    response = client.get("/admin/")
    assert response.status_code == 200
    return {
        match["key"]: {**match.groupdict(), "value": int(match["value"].replace(",", ""))}
        for match in FIGURE_RE.finditer(response.content.decode())
    }


def home_actions(client) -> dict[str, dict]:
    content = client.get("/admin/").content.decode()
    return {match["key"]: match.groupdict() for match in ACTION_RE.finditer(content)}


def seed_console_rows():
    """3 products (2 active); jobs: 2 running, 1 failed now, 1 failed 10 days ago, 1 completed;
    imports: 2 this week, 1 older; deliveries: 2 failed for good, 1 retrying, 1 succeeded.

    The domain models are looked up by name: core's code, tests included, imports no domain app.
    """
    product = apps.get_model("product", "Product")
    product.objects.bulk_create(
        product(sku=f"CON-{n}", name="x", price=Decimal(1), is_active=n != 0) for n in range(3)
    )
    now = timezone.now()
    for _ in range(2):
        make_job(status=JobStatus.RUNNING, started_at=now)
    make_job(status=JobStatus.FAILED, finished_at=now - timedelta(hours=1), title="Broke today")
    make_job(status=JobStatus.FAILED, finished_at=now - timedelta(days=10), title="Broke long ago")
    make_job(status=JobStatus.COMPLETED, finished_at=now)

    import_run = apps.get_model("import_manager", "ImportRun")
    runs = [
        import_run.objects.create(
            job=make_job(kind="catalog.import"), filename=f"{n}.csv", file_format="csv"
        )
        for n in range(3)
    ]
    import_run.objects.filter(pk=runs[0].pk).update(created_at=now - timedelta(days=8))

    webhook = apps.get_model("webhook", "Webhook").objects.create(
        url="https://hooks.example.com/console", event_types=["product.created"]
    )
    delivery = apps.get_model("webhook", "WebhookDelivery")
    for number, status in enumerate(["failed", "failed", "retrying", "succeeded"]):
        delivery.objects.create(
            webhook=webhook,
            message_id=f"console-{number}",
            event_type="product.created",
            status=status,
            request_url=webhook.url,
            request_body="{}",
            scheduled_for=now,
        )


# ------------------------------------------------------------------------------ the site


def test_the_console_is_named_after_the_platform(staff_client, client):
    content = staff_client.get("/admin/").content.decode()
    assert f"<title>Operator console | {console.PLATFORM_NAME}</title>" in content
    assert f'<a href="/admin/">{console.PLATFORM_NAME}</a>' in content
    assert "Django administration" not in content and "Django site admin" not in content

    client.logout()
    login = client.get("/admin/login/").content.decode()
    assert console.PLATFORM_NAME in login and "Django administration" not in login


def test_the_home_page_shows_every_dashboard_figure_with_its_value(staff_client):
    seed_console_rows()

    figures = home_figures(staff_client)

    values = {key: figure["value"] for key, figure in figures.items()}
    assert values == {
        "products": 3,
        "active_products": 2,
        "recent_imports": 2,
        "failed_deliveries": 2,
        "running_jobs": 2,
        "failed_jobs": 1,
    }
    assert figures["products"]["label"] == "Products"
    assert figures["failed_jobs"]["label"] == f"Failed jobs, last {console.RECENT_DAYS} days"
    content = staff_client.get("/admin/").content.decode()
    assert content.index('id="console-figures"') < content.index('class="app-core module')


def test_each_figure_links_to_the_list_it_counts(staff_client):
    seed_console_rows()

    for key, figure in home_figures(staff_client).items():
        response = staff_client.get(figure["url"].replace("&amp;", "&"))
        assert response.status_code == 200, key
        assert "cl" in response.context, f"{key} links to {figure['url']}, not an admin list"
        assert response.context["cl"].result_count == figure["value"], key


def test_the_common_actions_link_to_pages_that_open(staff_client):
    seed_console_rows()

    actions = home_actions(staff_client)

    assert [action["label"] for action in actions.values()] == [
        "New import",
        "Run a script",
        "Jobs running now",
    ]
    for key, action in actions.items():
        response = staff_client.get(action["url"].replace("&amp;", "&"))
        assert response.status_code == 200, key
    running = staff_client.get(actions["core.running_jobs"]["url"].replace("&amp;", "&"))
    assert running.context["cl"].result_count == 2
    script_catalog = staff_client.get(actions["scripts_runner.run"]["url"])
    assert 'id="script-catalog"' in script_catalog.content.decode()


def test_a_failure_figure_stands_out_only_when_it_is_not_zero(staff_client):
    content = staff_client.get("/admin/").content.decode()
    assert 'console-figure console-figure-alert"' not in content

    make_job(status=JobStatus.FAILED, finished_at=timezone.now())
    content = staff_client.get("/admin/").content.decode()
    assert re.search(r'console-figure-alert" data-figure="failed_jobs"', content)
    assert not re.search(r'console-figure-alert" data-figure="failed_deliveries"', content)


def test_staff_see_only_the_figures_and_actions_their_permissions_allow(client, make_user):
    seed_console_rows()
    client.force_login(make_user(None, is_staff=True))  # staff without any role
    assert home_figures(client) == {}
    assert home_actions(client) == {}

    client.force_login(make_user("viewer", is_staff=True))  # view permissions on every app
    assert set(home_figures(client)) == {
        "products",
        "active_products",
        "recent_imports",
        "failed_deliveries",
        "running_jobs",
        "failed_jobs",
    }
    assert set(home_actions(client)) == {
        "import_manager.new",
        "scripts_runner.run",
        "core.running_jobs",
    }


def test_the_figures_cost_one_query_per_app(superuser):
    seed_console_rows()
    with CaptureQueriesContext(connection) as captured:
        figures = console.figures_for(superuser)
    assert len(figures) == 6
    assert len(captured) == 4  # jobs, products, imports, deliveries


# --------------------------------------------------------------------------- the registry


def test_registered_figures_follow_their_order_permission_and_latest_registration(
    monkeypatch, make_user, staff_client
):
    monkeypatch.setattr(console, "_PROVIDERS", {})
    monkeypatch.setattr(console, "_ACTIONS", {})

    def provider(key, value, url_name=""):
        return lambda user: [console.Figure(key, key.title(), value, url_name)]

    console.register_figures("second", provider("second", 2), order=20)
    console.register_figures("first", provider("first", 1), order=10)
    console.register_figures("second", provider("second", 22), order=20)  # ready() ran again
    console.register_figures("guarded", provider("guarded", 3), permission="core.view_job")
    console.register_figures("unlinked", provider("unlinked", 4, "admin:not_installed"), order=5)
    console.register_action("open", "Open jobs", "admin:core_job_changelist")
    console.register_action("guarded", "Guarded", "admin:core_job_changelist", permission="x.y")

    no_role = make_user(None, is_staff=True)
    shown = [(figure.key, figure.value) for figure in console.figures_for(no_role)]
    assert shown == [("unlinked", 4), ("first", 1), ("second", 22)]
    assert [action.key for action in console.actions_for(no_role)] == ["open"]

    # A figure whose list is not installed is shown without a link.
    content = staff_client.get("/admin/").content.decode()
    assert '<div class="console-figure" data-figure="unlinked">' in content
    assert 'data-figure="guarded"' in content  # the superuser has every permission


# --------------------------------------------------------------------------- the job page


def test_the_job_page_opens_on_progress_and_live_log_with_technical_fields_folded(staff_client):
    job = make_job(
        title="Watch me", status=JobStatus.RUNNING, progress=40, celery_task_id="celery-abc"
    )
    content = staff_client.get(f"/admin/core/job/{job.pk}/change/").content.decode()

    progress = content.index('id="job-progress"')
    log = content.index('id="job-log"')
    first_field = content.index("field-kind")
    assert progress < log < first_field

    technical = re.search(
        r'<fieldset class="module aligned collapse".*?</fieldset>', content, re.DOTALL
    )
    assert technical, "no collapsed fieldset"
    folded = technical.group(0)
    assert "<details><summary>" in folded and "Technical details" in folded
    for name in ("celery_task_id", "heartbeat_at", "attempts", "queue"):
        assert f"field-{name}" in folded, name
        assert content.count(f"field-{name}") == 1, f"{name} shown outside the folded part"
    assert "celery-abc" in folded
    for name in ("kind", "title", "status", "owner", "error"):
        assert f"field-{name}" in content and f"field-{name}" not in folded, name
