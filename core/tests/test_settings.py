"""Configuration comes from the environment; production refuses unsafe defaults."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'debug': settings.DEBUG, 'hosts': settings.ALLOWED_HOSTS, "
    "'cors': settings.CORS_ALLOWED_ORIGINS, 'ssl': bool(getattr(settings, "
    "'CELERY_BROKER_USE_SSL', None)), 'db': settings.DATABASES['default']['NAME'], "
    "'ext': bool(settings.EXTERNAL_JWT_SECRET)}))"
)


def load_settings(**env):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    base.update(DJANGO_SETTINGS_MODULE="config.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = load_settings()
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_everything_is_read_from_the_environment():
    result = load_settings(
        SECRET_KEY="k" * 50,
        ALLOWED_HOSTS="shop.example.com,api.example.com",
        CORS_ALLOWED_ORIGINS="https://app.example.com",
        REDIS_URL="rediss://:pw@cache.example.com:6380/0",
        REDIS_SSL_CERT_REQS="none",
        DATABASE_URL="postgres://u:p@db.example.com:5432/shop",
        JWT_SECRET="external-secret",
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {
        "debug": False,
        "hosts": ["shop.example.com", "api.example.com"],
        "cors": ["https://app.example.com"],
        "ssl": True,
        "db": "shop",
        "ext": True,
    }


def test_missing_database_url_is_a_clear_error():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY="k" * 50)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr


# --- how the apps read settings (docs/CONTRIBUTING.md, "Settings") ----------------------------
# Every setting is declared once, in config/settings.py, with its environment variable and
# default; code reads `django.conf.settings.NAME` when it runs, so a test can override it.


def app_modules():
    """(path, syntax tree) of every module of the domain apps, tests and migrations aside."""
    from django.conf import settings

    for app in settings.DOMAIN_APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if {"tests", "testing", "migrations"} & set(path.relative_to(ROOT).parts):
                continue
            yield path.relative_to(ROOT), ast.parse(path.read_text(), filename=str(path))


def setting_reads(tree):
    """(node, NAME) of every `settings.NAME` in the tree."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "settings"
            and node.attr.isupper()
        ):
            yield node, node.attr


def test_every_setting_the_apps_read_is_declared_in_config_settings():
    from django.conf import global_settings

    import config.settings as production

    declared = set(dir(production)) | set(dir(global_settings))
    undeclared = {
        f"{path}:{node.lineno} {name}"
        for path, tree in app_modules()
        for node, name in setting_reads(tree)
        if name not in declared
    }
    assert not undeclared, "declare these in config/settings.py (with their env variable)"


def test_apps_read_settings_without_defaults_of_their_own():
    second_defaults = [
        f"{path}:{node.lineno}"
        for path, tree in app_modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and node.args
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == "settings"
    ]
    assert not second_defaults, "read settings.NAME: the default belongs in config/settings.py"


def test_apps_read_settings_when_they_run_not_at_import():
    def import_time_reads(tree):
        """settings.NAME outside any function: read once at import, deaf to overrides."""
        inside_functions = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            for node in ast.walk(function)
        }
        for node, name in setting_reads(tree):
            # A model's foreign key to the user model names it at import, as Django requires.
            if id(node) not in inside_functions and name != "AUTH_USER_MODEL":
                yield node, name

    early = [
        f"{path}:{node.lineno} {name}"
        for path, tree in app_modules()
        for node, name in import_time_reads(tree)
    ]
    assert not early, "read settings inside the function that uses them"
