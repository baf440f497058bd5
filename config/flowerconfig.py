"""Flower's options for the Procfile's `flower` process (`celery -A config flower --conf=...`).

Flower executes this file itself (it is not imported by Django). Its environment variables
(FLOWER_BASIC_AUTH, FLOWER_PORT, FLOWER_ADDRESS, FLOWER_URL_PREFIX, ...) still apply, and
options on the command line win over the values below.

Flower can revoke and terminate tasks and shows their arguments, so it never starts without
basic auth: FLOWER_BASIC_AUTH=user:password (several as user1:pw1,user2:pw2).
"""

import os


def _is_user_and_password(entry: str) -> bool:
    user, _, password = entry.partition(":")
    return bool(user and password)


_credentials = [entry for entry in os.environ.get("FLOWER_BASIC_AUTH", "").split(",") if entry]
if not _credentials or not all(_is_user_and_password(entry) for entry in _credentials):
    raise SystemExit(
        "flower: FLOWER_BASIC_AUTH must be set to user:password (several separated by commas); "
        "Flower does not start unprotected."
    )
basic_auth = _credentials

# A platform that routes to $PORT (Render, a Heroku app of its own) gets it; else 5555.
port = int(os.environ.get("FLOWER_PORT") or os.environ.get("PORT") or 5555)
address = os.environ.get("FLOWER_ADDRESS", "0.0.0.0")  # noqa: S104 - a server process
# Workers that stopped answering for an hour leave the worker list.
purge_offline_workers = int(os.environ.get("FLOWER_PURGE_OFFLINE_WORKERS", "3600"))
