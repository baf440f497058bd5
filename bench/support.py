"""What every benchmark needs: Django set up on its own database, and the platform's processes.

Benchmarks run with `python3 dev.py bench NAME` (embedded services when DATABASE_URL /
REDIS_URL are unset) or directly inside the venv with those variables set. Each benchmark
uses a database of its own (created if missing), never the one `dev.py run` keeps data in.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def setup_django(database: str) -> None:
    """Point DATABASE_URL at `database` on the same server, create it, set Django up, migrate."""
    import environ
    import psycopg

    from devtools.stack import database_url

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    # A benchmark sends one user's requests as fast as it can: the per-user rate limits
    # (core.throttles) would refuse most of them. Servers it starts inherit this environment.
    for budget in ("API_RATE_LIMIT", "API_RATE_LIMIT_UPLOADS", "API_RATE_LIMIT_BULK"):
        os.environ.setdefault(budget, "off")
    db = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    params = {
        "dbname": "postgres",
        "user": db["USER"],
        "host": db["HOST"] or None,
        "port": db["PORT"] or None,
        "password": db["PASSWORD"] or None,
    }
    with psycopg.connect(**params, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    db["NAME"] = database
    os.environ["DATABASE_URL"] = database_url(db)

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def machine_speed() -> str:
    """A fixed amount of CPU work, timed: one line to print beside a benchmark's figures.

    The machines here change speed by up to 2x between (and within) sessions, so figures
    from two runs compare only together with this: a pure-Python loop (the worker's side)
    and a PostgreSQL aggregate over generated rows (the database's side), best of three.
    """
    import time

    from django.db import connection

    def best_of_three(work) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
        return min(times)

    def python_loop():
        total = 0
        for i in range(5_000_000):
            total += i

    def postgres_sum():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sum(i * 2) FROM generate_series(1, 3000000) AS i /* bench machine_speed */"
            )

    return (
        f"machine speed: Python loop {best_of_three(python_loop):.2f} s, "
        f"PostgreSQL sum {best_of_three(postgres_sum):.2f} s (smaller is faster)"
    )


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary_ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):.1f} ms, p95 {percentile(values, 95):.1f} ms, "
        f"p99 {percentile(values, 99):.1f} ms, max {max(values):.1f} ms, "
        f"mean {statistics.fmean(values):.1f} ms"
    )


def bench_operator(email: str, password: str):
    """An operator account for a benchmark's API calls (created or reset)."""
    from core.models import User
    from core.services.roles import ensure_role_groups, set_role

    ensure_role_groups()
    user, _ = User.objects.get_or_create(email=email)
    user.set_password(password)
    user.save()
    set_role(user, "operator")
    return user
