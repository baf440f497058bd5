"""Bad input breaks nothing: schemathesis fuzzes every operation of the OpenAPI document.

The document is loaded from the in-process WSGI app (config.wsgi), so every operation a later
app adds is fuzzed too, with no change here. Each operation gets a bounded number of
generated requests (examples, coverage and fuzzing phases; no Hypothesis database, a fixed
seed so a failure is reproducible) sent as an admin with a Bearer token, and every check
runs on every response: no server error, a documented status, content type, headers and
body schema, valid data accepted, invalid data refused.

Path parameters mostly name fixture objects (a product, a job, a webhook and a delivery, a
code, a link, an email message, an inbound event...), so operations reach their real work,
not only their 404. Every request runs in a savepoint that is rolled back afterwards:
destructive operations (bulk delete, deleting a webhook, revoking a code...) only ever act
on this test's fixtures, and every request finds them as they were seeded. Nothing leaves
the process: jobs are recorded instead of enqueued (the suite's `enqueued_jobs` fixture),
outbound webhooks and email retries are published on commit, which a rolled-back savepoint
never reaches, and Django's test email backend keeps messages in memory.

`SCHEMA_FUZZ_SEED` (environment) runs another seed; `SCHEMA_FUZZ_EXAMPLES` more examples.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import uuid
import zlib
from decimal import Decimal

import pytest
import schemathesis
from django.db import transaction
from django.utils import timezone
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from core.models import JobStatus
from core.testing.helpers import make_job
from import_manager.jobs import CATALOG_IMPORT

# Marked e2e for its length only (no outside process): 160 operations take 4-5 minutes on a
# shared 2-core machine, over the fast suite's 3-minute allowance for one test. Run it alone
# with `python3 dev.py test core/tests/test_schema_fuzz.py`.
pytestmark = [pytest.mark.django_db, pytest.mark.e2e, pytest.mark.timeout(900)]

SEED = int(os.environ.get("SCHEMA_FUZZ_SEED", "20250101"))
MAX_EXAMPLES = int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "10"))
MAKE_TOKEN = "fuzz-make-token"
REAL_GETADDRINFO = socket.getaddrinfo

# Path parameters that name fixture objects: (path pattern, parameter) -> fixture key.
FIXTURE_PARAMETERS = [
    (r"/auth/users/\{id\}", "id", "user"),
    (r"/batch-jobs/\{id\}", "id", "job"),
    (r"/jobs/\{id\}", "id", "job"),
    (r"/imports/\{id\}", "id", "import_job"),
    (r"/codes/\{code\}", "code", "code"),
    (r"/email/messages/\{id\}", "id", "email"),
    (r"/integrations/webhooks/processed/\{id\}", "id", "inbound"),
    (r"/links/\{short_id\}", "short_id", "link"),
    (r"/products/\{id\}", "id", "product"),
    (r"/scripts/\{script_name\}", "script_name", "script"),
    (r"/webhooks/\{webhook_pk\}/deliveries/\{id\}", "id", "delivery"),
    (r"/webhooks/\{webhook_pk\}", "webhook_pk", "webhook"),
    (r"/webhooks/\{id\}", "id", "webhook"),
]
# Headers the fuzzer cannot guess: header -> fixture key.
FIXTURE_HEADERS = {"x-make-token": "make_token"}

# `positive_data_acceptance` (a request the document allows gets a 2xx) is impossible where
# acceptance depends on what exists (other rows, files, DNS) or on rules no JSON Schema can
# state. These operations still run every other check. (method, path after /api[/v1]).
ACCEPTANCE_NOT_DECIDABLE_FROM_THE_DOCUMENT = {
    # The old password must be the caller's current one.
    ("POST", "/auth/change-password"),
    # Django's password validators: too common, too similar to the email; the email unused.
    ("POST", "/auth/register"),
    # Every path must name a file that exists in the data directory.
    ("POST", "/automation/csv/diff/"),
    ("POST", "/automation/fienta/create-codes/"),
    ("POST", "/automation/fienta/rename-codes/"),
    ("POST", "/automation/fienta/update-discount/"),
    ("POST", "/automation/xlsx-to-csv/"),
    # `code_type` must name an existing code type.
    ("POST", "/codes/allocate/"),
    # A discount is a percent or an amount, not both; the code type must exist.
    ("POST", "/codes/"),
    ("PUT", "/codes/{code}/"),
    ("PATCH", "/codes/{code}/"),
    # `metadata` is free-form JSON without NUL anywhere: OpenAPI 3.0 cannot say so.
    ("POST", "/codes/{code}/mark-used/"),
    # `filters` or `all: true`, one of them: OpenAPI 3.0 has no "exactly one of these".
    ("POST", "/products/bulk-price-update/"),
    # Addresses are checked by Django's email validator, stricter than `format: email`
    # generators; a template (by name) must exist.
    ("POST", "/email/send/"),
    # `attributes` is free-form JSON without NUL anywhere (PostgreSQL's jsonb cannot hold it)
    # and `image_urls` must pass Django's URL validator: neither fits an OpenAPI 3.0 schema.
    ("POST", "/products/"),
    ("PUT", "/products/{id}/"),
    ("PATCH", "/products/{id}/"),
    # The URL's host must resolve to a public address (resolved when the request arrives).
    ("POST", "/imports/from-url/"),
    ("POST", "/webhooks/"),
    ("PUT", "/webhooks/{id}/"),
    ("PATCH", "/webhooks/{id}/"),
    # `code` must name an existing code.
    ("POST", "/links/"),
    ("PATCH", "/links/{short_id}/"),
    # The parameters a script takes depend on the script named in the body.
    ("POST", "/scripts/execute/"),
    # The file's extension and content must be an import format: the document says binary.
    ("POST", "/upload/"),
}


@pytest.fixture
def fixtures(settings, monkeypatch, make_user, make_product, make_webhook, data_dir):
    """One of everything a path can name, in the test database."""
    from codes.models import EmailMessage, Link
    from codes.tests.factories import make_codes
    from webhook.models import InboundEvent, WebhookDelivery

    # Every request of the run counts against one user's budgets: none apply here.
    settings.API_RATE_LIMITS = {scope: "off" for scope in settings.API_RATE_LIMITS}
    settings.MAKE_TOKEN = MAKE_TOKEN
    settings.FIENTA_CLI_DIR = ""
    settings.SHOPIFY_SHOP_DOMAIN = ""
    # No name resolves (as offline): URL checks refuse every host name with a 400, and
    # nothing is looked up outside. Address literals (the fixture webhook's) stay as they are.
    monkeypatch.setattr("core.services.ssrf.socket.getaddrinfo", only_address_literals)
    admin = make_user("admin", email="fuzz-admin@example.com", is_staff=True)
    other = make_user("operator", email="fuzz-operator@example.com")
    product = make_product(sku="FUZZ-1", name="Lamp", price=Decimal("9.90"))
    make_product(sku="FUZZ-2", name="Chair", price=Decimal("49.00"))
    job = make_job(owner=admin, status=JobStatus.COMPLETED)
    import_job = make_job(kind=CATALOG_IMPORT.name, owner=admin, status=JobStatus.FAILED)
    webhook = make_webhook("http://127.0.0.1:9/hook")
    delivery = WebhookDelivery.objects.create(
        webhook=webhook,
        message_id=uuid.uuid4().hex,
        event_type="product.created",
        request_url=webhook.url,
        request_body="{}",
        scheduled_for=timezone.now(),
    )
    (code, *_) = make_codes(3, prefix="FUZZ")
    link = Link.objects.create(short_id="fuzz-link", target_url="https://example.com/")
    email = EmailMessage.objects.create(
        to=["someone@example.com"],
        from_email="shop@example.com",
        subject="Hello",
        message_id=f"<{uuid.uuid4().hex}@example.com>",
    )
    # A type without a handler: replaying it stores it `ignored` again.
    inbound = InboundEvent.objects.create(
        source="make", event_id="fuzz-1", event_type="fuzz.nothing", payload={}
    )
    return {
        "admin": admin,
        "token": access_token(admin),
        "user": other.pk,
        "product": product.pk,
        "job": str(job.pk),
        "import_job": str(import_job.pk),
        "webhook": webhook.pk,
        "delivery": delivery.pk,
        "code": code.code,
        "link": link.short_id,
        "email": email.pk,
        "inbound": inbound.pk,
        "script": "filter_products",
        "make_token": MAKE_TOKEN,
    }


def only_address_literals(host, port, *args, **kwargs):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
    return REAL_GETADDRINFO(host, port, *args, **kwargs)


def access_token(user) -> str:
    from rest_framework_simplejwt.tokens import RefreshToken

    return str(RefreshToken.for_user(user).access_token)


@pytest.fixture
def in_process_requests():
    """Requests through the WSGI app keep the test's connection (and its transaction): like
    Django's test client, stop the request signals closing it."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def session_state_released(db):
    """Session-level state outlives a rolled-back savepoint: an advisory lock taken by a
    request (the product index lock of a bulk load) would stay held on this connection for
    the rest of the test session, and every later load or restore, in workers too, would wait
    for it. Released after the run."""
    from django.db import connection

    yield
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock_all()")


@pytest.fixture
def api_schema(fixtures, in_process_requests, session_state_released):
    from config.wsgi import application

    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
        }
    )
    loaded = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=config)
    loaded.config.update(headers={"Authorization": f"Bearer {fixtures['token']}"})
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


def positive(case, location: ParameterLocation) -> bool:
    component = case.meta.components.get(location) if case.meta else None
    return component is None or component.mode == GenerationMode.POSITIVE


def most_of_the_time(value) -> bool:
    """Three cases in four (deterministic for the same case): the rest keep their random
    values, which name nothing (404) or are refused."""
    return zlib.crc32(repr(value).encode()) % 4 != 0


def point_at_fixtures(case, fixtures) -> None:
    named = case.path_parameters and positive(case, ParameterLocation.PATH)
    if named and most_of_the_time(case.path_parameters):
        for pattern, name, key in FIXTURE_PARAMETERS:
            if name in case.path_parameters and re.search(pattern, case.path):
                case.path_parameters[name] = fixtures[key]
    if case.headers and positive(case, ParameterLocation.HEADER):
        for header, key in FIXTURE_HEADERS.items():
            if header in case.headers and most_of_the_time(case.headers):
                case.headers[header] = fixtures[key]


def excluded_checks(case) -> list:
    path = re.sub(r"^/api(/v1)?", "", case.operation.path)
    if (case.method.upper(), path) in ACCEPTANCE_NOT_DECIDABLE_FROM_THE_DOCUMENT:
        return [positive_data_acceptance]
    return []


@schema.parametrize()
def test_every_operation_survives_fuzzing_and_answers_as_documented(case, fixtures):
    point_at_fixtures(case, fixtures)
    with transaction.atomic():
        try:
            case.call_and_validate(excluded_checks=excluded_checks(case))
        finally:
            transaction.set_rollback(True)
