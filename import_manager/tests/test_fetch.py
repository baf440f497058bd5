"""Imports from a feed URL: a real HTTP server on 127.0.0.1, and how the import uses the SSRF
guard (the guard itself: core/tests/test_ssrf.py)."""

import ipaddress
import socket

import pytest

from core.models import Job, JobStatus
from core.services.jobs import execute_job
from import_manager.models import ImportRun
from import_manager.services.fetch import FeedRefused, check_url, download_feed

from .helpers import catalog

CSV = "sku,name,description,price,is_active\nF-1,Feed one,,5,true\nF-2,Feed two,,6,false\n"


@pytest.fixture
def allow_loopback(settings):
    settings.IMPORT_URL_ALLOW_PRIVATE = True


@pytest.mark.django_db(transaction=True)
def test_from_url_downloads_the_feed_and_imports_it(
    client_for, data_dir, allow_loopback, httpserver
):
    httpserver.expect_request("/exports/feed.csv").respond_with_data(CSV, content_type="text/csv")
    client = client_for("operator")
    response = client.post(
        "/api/imports/from-url", {"url": httpserver.url_for("/exports/feed.csv")}, format="json"
    )

    assert response.status_code == 202, response.content
    assert response.json()["message"] == "Import started successfully"
    job_id = response.json()["job_id"]
    execute_job(job_id)

    assert Job.objects.get(pk=job_id).status == JobStatus.COMPLETED
    assert set(catalog()) == {"F-1", "F-2"}
    run = ImportRun.objects.get(job_id=job_id)
    assert (run.filename, run.file_format, run.source) == ("feed.csv", "csv", "url")
    assert (data_dir / run.stored_path).read_text() == CSV
    assert run.stored_path.startswith("downloads/")
    assert client.get(f"/api/imports/{job_id}").json()["success_count"] == 2


@pytest.mark.django_db(transaction=True)
def test_feed_format_comes_from_the_content_type_and_redirects_are_followed(
    data_dir, allow_loopback, httpserver, tmp_path
):
    body = '[{"sku": "J", "name": "j", "description": "", "price": 1, "is_active": true}]'
    httpserver.expect_request("/latest").respond_with_data(
        "", status=302, headers={"Location": "/data"}
    )
    httpserver.expect_request("/data").respond_with_data(body, content_type="application/json")

    fetched = download_feed(httpserver.url_for("/latest"), tmp_path)

    assert (fetched.file_format, fetched.filename) == ("json", "data.json")
    assert fetched.path.read_text() == body


def test_feed_larger_than_the_limit_is_refused(settings, allow_loopback, httpserver, tmp_path):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    httpserver.expect_request("/big.csv").respond_with_data(CSV * 10, content_type="text/csv")

    with pytest.raises(FeedRefused, match="larger than the allowed 100 bytes"):
        download_feed(httpserver.url_for("/big.csv"), tmp_path)
    assert not list(tmp_path.iterdir())


def test_feed_errors_are_reported(allow_loopback, httpserver, tmp_path):
    httpserver.expect_request("/gone.csv").respond_with_data("no", status=404)
    with pytest.raises(FeedRefused, match="HTTP 404"):
        download_feed(httpserver.url_for("/gone.csv"), tmp_path)


@pytest.mark.django_db
def test_loopback_urls_are_refused_by_the_api(client_for, settings, httpserver):
    settings.IMPORT_URL_ALLOW_PRIVATE = False
    response = client_for("operator").post(
        "/api/imports/from-url", {"url": httpserver.url_for("/feed.csv")}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "url_refused"
    assert "non-public address (127.0.0.1)" in response.json()["error"]["message"]
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/feed.csv",
        "http://localhost:8000/feed.csv",
        "http://10.1.2.3/feed.csv",
        "http://192.168.0.10/feed.csv",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/feed.csv",
        "http://[::ffff:127.0.0.1]/feed.csv",
        "http://0.0.0.0/feed.csv",
        "http://100.64.0.1/feed.csv",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(settings, url):
    settings.IMPORT_URL_ALLOW_PRIVATE = False
    with pytest.raises(FeedRefused, match="non-public"):
        check_url(url)


@pytest.mark.parametrize("url", ["ftp://example.com/f.csv", "file:///etc/passwd", "http://u:p@h/x"])
def test_only_plain_http_urls_are_accepted(url):
    with pytest.raises(FeedRefused):
        check_url(url)


def test_a_public_address_passes_the_check(settings):
    settings.IMPORT_URL_ALLOW_PRIVATE = False
    [address] = check_url("https://93.184.216.34/feed.csv").addresses
    assert address == ipaddress.ip_address("93.184.216.34")


def test_allowed_private_networks_admit_only_those_networks(settings):
    settings.IMPORT_URL_ALLOW_PRIVATE = False
    settings.IMPORT_URL_ALLOWED_PRIVATE_NETWORKS = ["10.0.0.0/8"]
    assert check_url("http://10.1.2.3/feed.csv").host == "10.1.2.3"
    with pytest.raises(FeedRefused, match=r"non-public address \(192.168.0.10\)"):
        check_url("http://192.168.0.10/feed.csv")


def test_allow_private_admits_loopback_only(settings):
    settings.IMPORT_URL_ALLOW_PRIVATE = True
    settings.IMPORT_URL_ALLOWED_PRIVATE_NETWORKS = []
    for url in ("http://127.0.0.1:8080/f.csv", "http://[::1]/f.csv"):
        assert check_url(url).url == url
    for url in ("http://10.1.2.3/f.csv", "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(FeedRefused):
            check_url(url)
    settings.IMPORT_URL_ALLOWED_PRIVATE_NETWORKS = ["10.0.0.0/8"]
    assert check_url("http://10.1.2.3/f.csv").url == "http://10.1.2.3/f.csv"


def test_a_bad_allow_list_entry_fails_the_system_check(settings):
    from import_manager.checks import check_allowed_private_networks

    settings.IMPORT_URL_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8", "::1/128"]
    assert check_allowed_private_networks(None) == []
    settings.IMPORT_URL_ALLOWED_PRIVATE_NETWORKS = ["10.0.0.0/33"]
    [error] = check_allowed_private_networks(None)
    assert error.id == "import_manager.E001"


def test_a_redirect_to_a_private_address_is_not_followed(settings, httpserver, tmp_path):
    settings.IMPORT_URL_ALLOW_PRIVATE = False
    # Let the test server (loopback) pass; everything else is judged as usual.
    settings.IMPORT_URL_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8", "::1/128"]
    httpserver.expect_request("/feed.csv").respond_with_data(
        "", status=301, headers={"Location": "http://10.255.255.1/internal.csv"}
    )

    with pytest.raises(FeedRefused, match=r"non-public address \(10.255.255.1\)"):
        download_feed(httpserver.url_for("/feed.csv"), tmp_path)


def test_the_feed_is_fetched_from_the_checked_address_with_its_host_name(
    settings, httpserver, monkeypatch, tmp_path
):
    settings.IMPORT_URL_ALLOW_PRIVATE = False
    settings.IMPORT_URL_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    answers = iter(["127.0.0.1"])  # a second lookup of the name would fail
    real_getaddrinfo = socket.getaddrinfo

    def once(host, *args, **kwargs):
        if host == "feeds.example.com":
            return real_getaddrinfo(next(answers), *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", once)
    httpserver.expect_request(
        "/feed.csv", headers={"Host": f"feeds.example.com:{httpserver.port}"}
    ).respond_with_data(CSV, content_type="text/csv")

    fetched = download_feed(f"http://feeds.example.com:{httpserver.port}/feed.csv", tmp_path)

    assert fetched.path.read_text() == CSV
