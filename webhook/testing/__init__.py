"""Reusable test code of the outbound webhooks (not collected as tests itself).

- `webhook.testing.receiver`: `Receiver`, a real HTTP server on 127.0.0.1 with scripted
  `Reply`s that verifies each delivery's signature on its own.
- `webhook.testing.fixtures`: the `receiver` and `make_webhook` fixtures; registered once by
  the root conftest.py (`pytest_plugins`).
"""
