"""Secrets never reach the logs."""

import copy
import logging

from core.logging import REDACTED, RedactSecretsFilter, redact


def test_redacts_passwords_tokens_keys_and_urls():
    text = (
        'login password=hunter2 {"token": "abc.def", "api_key": "k-123"} '
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig "
        "postgres://app:s3cret@db:5432/x redis://:pw@cache:6379/0"
    )
    cleaned = redact(text)
    for secret in ["hunter2", "abc.def", "k-123", "eyJhbGciOiJIUzI1NiJ9", "s3cret", ":pw@"]:
        assert secret not in cleaned
    assert cleaned.count(REDACTED) >= 6
    assert "db:5432/x" in cleaned  # the rest of the line stays readable


def test_filter_rewrites_records_including_arguments_and_tracebacks():
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "user %s secret=%s", ("bob", "xyz"), None
    )
    assert RedactSecretsFilter().filter(record)
    assert record.getMessage() == f"user bob secret={REDACTED}"
    try:
        raise ValueError("password=letmein")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    RedactSecretsFilter().filter(record)
    assert "letmein" not in logging.Formatter().format(record)


def test_api_logs_do_not_contain_login_passwords(client, caplog, db):
    with caplog.at_level(logging.DEBUG):
        client.post(
            "/api/auth/login",
            {"email": "a@b.c", "password": "TopSecret-123"},
            content_type="application/json",
        )
    assert "TopSecret-123" not in caplog.text


def test_uvicorn_access_lines_go_through_the_redacting_handlers(settings, tmp_path):
    import logging.config

    config = copy.deepcopy(settings.LOGGING)
    log_file = tmp_path / "app.log"
    for handler in config["handlers"].values():
        if "filename" in handler:
            handler["filename"] = str(log_file)
    uvicorn_logger = logging.getLogger("uvicorn.access")
    # What uvicorn configures before Django starts: its own handler, no propagation.
    uvicorn_logger.addHandler(logging.StreamHandler())
    uvicorn_logger.propagate = False
    logging.config.dictConfig(config)
    try:
        token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXBhcnQ"
        uvicorn_logger.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            f"/ws/jobs/?token={token}",
            "1.1",
            101,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        written = log_file.read_text()
        assert "/ws/jobs/?token=[REDACTED]" in written
        assert token not in written
        assert uvicorn_logger.handlers == [] and uvicorn_logger.propagate
    finally:
        logging.config.dictConfig(settings.LOGGING)
