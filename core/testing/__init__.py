"""Reusable test code for every app's tests (not collected as tests itself).

- `core.testing.fixtures`: the shared pytest fixtures (users, API and console clients, a
  private data directory, a real Celery worker and ASGI server), registered once by the root
  conftest.py through `pytest_plugins`.
- `core.testing.role_matrix`: `RoleMatrix`, who may do what on an API endpoint, declared once
  per endpoint; the anonymous / refused / allowed cases are generated from it.
- `core.testing.helpers`: Job engine helpers (`make_job`, `register_kind`) and
  `run_in_thread`, `wait_until`.

docs/CONTRIBUTING.md ("Tests") describes how to use them.
"""
