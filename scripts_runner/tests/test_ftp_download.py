"""ftp_download against a real FTP server on loopback."""

import hashlib

import pytest

from core.models import JobStatus

from .ftp_server import FTP_PASSWORD, FTP_USER, ftp_server
from .helpers import log_lines, run_script

pytestmark = [pytest.mark.django_db(transaction=True)]

BIG = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def remote(tmp_path):
    root = tmp_path / "remote"
    root.mkdir()
    (root / "products_2024-05-01.csv").write_bytes(b"sku,name\nA,One\n")
    (root / "products_2024-05-02.csv").write_bytes(BIG)
    (root / "products_2024-05-02.csv.sha256").write_text(
        hashlib.sha256(BIG).hexdigest() + "  products_2024-05-02.csv\n"
    )
    (root / "readme.txt").write_text("not a product file")
    return root


@pytest.fixture
def ftp_password(monkeypatch):
    monkeypatch.setenv("SCRIPT_CREDENTIAL_FTP_PASSWORD", FTP_PASSWORD)


def params(port, **extra):
    return {
        "host": "127.0.0.1",
        "port": port,
        "username": FTP_USER,
        "pattern": "products_*.csv",
        "dest_dir": "incoming",
        **extra,
    }


def test_downloads_matching_files_with_size_and_checksum_checks(data_dir, remote, ftp_password):
    with ftp_server(remote) as server:
        job = run_script("ftp_download", params(server.port, verify="checksum"))
    assert job.status == JobStatus.COMPLETED, job.error
    incoming = data_dir / "incoming"
    assert (incoming / "products_2024-05-02.csv").read_bytes() == BIG
    assert (incoming / "products_2024-05-01.csv").read_bytes() == b"sku,name\nA,One\n"
    assert not (incoming / "readme.txt").exists()
    assert not list(incoming.glob("*.part"))
    summary = job.result["summary"]
    assert sorted(item["file"] for item in summary["downloaded"]) == [
        "products_2024-05-01.csv",
        "products_2024-05-02.csv",
    ]
    assert "products_2024-05-02.csv: sha256 verified" in log_lines(job)
    assert not any(FTP_PASSWORD in line for line in log_lines(job))
    assert job.progress == 100


def test_resumes_a_partial_download_from_where_it_stopped(data_dir, remote, ftp_password):
    incoming = data_dir / "incoming"
    incoming.mkdir()
    half = len(BIG) // 2
    (incoming / "products_2024-05-02.csv.part").write_bytes(BIG[:half])
    with ftp_server(remote) as server:
        job = run_script(
            "ftp_download",
            params(server.port, pattern="products_2024-05-02.csv", verify="checksum"),
        )
        commands = list(server.commands)
    assert job.status == JobStatus.COMPLETED, job.error
    assert (incoming / "products_2024-05-02.csv").read_bytes() == BIG
    assert f"REST {half}" in commands
    assert f"products_2024-05-02.csv: resuming at byte {half} of {len(BIG)}" in log_lines(job)


def test_skips_files_already_downloaded(data_dir, remote, ftp_password):
    incoming = data_dir / "incoming"
    incoming.mkdir()
    (incoming / "products_2024-05-01.csv").write_bytes(b"sku,name\nA,One\n")
    with ftp_server(remote) as server:
        job = run_script("ftp_download", params(server.port))
        retrieved = [c for c in server.commands if c.startswith("RETR")]
    assert job.status == JobStatus.COMPLETED, job.error
    assert retrieved == ["RETR products_2024-05-02.csv"]
    summary = job.result["summary"]
    assert [item["file"] for item in summary["skipped"]] == ["products_2024-05-01.csv"]


def test_a_checksum_mismatch_fails_the_run_and_keeps_no_file(data_dir, remote, ftp_password):
    (remote / "products_2024-05-02.csv.sha256").write_text("0" * 64 + "  x\n")
    with ftp_server(remote) as server:
        job = run_script(
            "ftp_download",
            params(server.port, pattern="products_2024-05-02.csv", verify="checksum"),
        )
    assert job.status == JobStatus.FAILED
    assert "sha256 mismatch" in job.error
    assert not (data_dir / "incoming" / "products_2024-05-02.csv").exists()


def test_works_with_servers_without_mlsd(data_dir, remote, ftp_password):
    with ftp_server(remote, mlsd=False) as server:
        job = run_script("ftp_download", params(server.port, pattern="*.txt"))
    assert job.status == JobStatus.COMPLETED, job.error
    assert (data_dir / "incoming" / "readme.txt").read_text() == "not a product file"


def test_a_wrong_password_fails_with_the_servers_answer(data_dir, remote, monkeypatch):
    monkeypatch.setenv("SCRIPT_CREDENTIAL_FTP_PASSWORD", "wrong")
    with ftp_server(remote) as server:
        job = run_script("ftp_download", params(server.port))
    assert job.status == JobStatus.FAILED
    assert "FTP server refused: 530" in job.error


def test_an_unreachable_server_fails_clearly(data_dir, ftp_password):
    from devtools.stack import free_port

    job = run_script("ftp_download", params(free_port(), timeout_seconds=2))
    assert job.status == JobStatus.FAILED
    assert "Cannot connect to 127.0.0.1" in job.error
