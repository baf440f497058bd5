"""The deployment files (Docker, Docker Compose, Fly.io, Render) run the Procfile's processes.

No Docker engine or platform runs here, so these tests check what can be checked: each file
parses, names every Procfile process with the Procfile's command (the web port written out
where the platform runs commands without a shell), and wires PostgreSQL and Redis; the worker
everywhere consumes every queue the platform sends work to.
"""

import json
import re
import shlex
import tomllib

import pytest
import yaml
from django.conf import settings

import dev
from core.services.job_kinds import job_kinds
from devtools import ROOT
from devtools.procfile import option_value, procfile_commands, worker_queues
from devtools.run import processes as dev_processes
from devtools.stack import WORKER_QUEUES

PROCESSES = {"release", "web", "worker", "beat", "flower"}
#: The queues of ARCHITECTURE.md (Scale-out, Wave 2).
PLATFORM_QUEUES = [
    "default",
    "imports",
    "webhooks",
    "scripts",
    "sync",
    "orders",
    "scraping",
    "ai",
    "email",
]


@pytest.fixture(scope="module")
def procfile():
    return procfile_commands()


def words(command: str) -> list[str]:
    return shlex.split(command)


def with_port(command: str, port: int) -> list[str]:
    """The Procfile command as run where no shell expands $PORT: the port written out."""
    return words(command.replace("$PORT", str(port)))


def port_of(command: str) -> int:
    arguments = words(command)
    return int(arguments[arguments.index("--port") + 1])


# --------------------------------------------------------------------------- Procfile, queues


def test_the_procfile_names_every_process(procfile):
    assert set(procfile) == PROCESSES
    assert "$PORT" in words(procfile["web"])


def test_the_worker_consumes_every_platform_queue_from_one_list(procfile):
    assert worker_queues().split(",") == PLATFORM_QUEUES
    assert worker_queues() == WORKER_QUEUES  # what the test worker uses
    assert option_value(dev_processes(8000)["worker"], "-Q") == worker_queues()  # dev.py run's
    assert "-E" in words(procfile["worker"])  # task events, for Flower


def test_every_queue_work_is_sent_to_is_consumed_by_the_worker():
    from celery import current_app

    current_app.loader.import_default_modules()  # every app's tasks, as a worker loads them
    consumed = set(worker_queues().split(","))
    kind_queues = {kind.queue for kind in job_kinds()}
    task_queues = {
        task.queue for task in current_app.tasks.values() if getattr(task, "queue", None)
    }
    beat_queues = {
        entry.get("options", {}).get("queue", settings.CELERY_TASK_DEFAULT_QUEUE)
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
    assert kind_queues and task_queues and beat_queues
    assert kind_queues | task_queues | beat_queues <= consumed


# --------------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def test_the_image_installs_the_requirements_like_dev_py_and_runs_unprivileged():
    instructions = dockerfile_instructions()
    base = [args for keyword, args in instructions if keyword == "FROM"]
    assert len(base) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-bookworm)?", base[0]), base

    runs = [args for keyword, args in instructions if keyword == "RUN"]
    assert dev.COMMANDS["run"] == "requirements.txt"  # what `dev.py run` installs
    assert "pip install -r requirements.txt" in runs
    copies = [args for keyword, args in instructions if keyword == "COPY"]
    assert copies[0] == "requirements.txt ."  # the dependency layer comes before the code

    collect = next(args for args in runs if "collectstatic" in args)
    assert "SECRET_KEY=" in collect and "--noinput" in collect

    users = [(i, args) for i, (keyword, args) in enumerate(instructions) if keyword == "USER"]
    assert users and users[-1][1] not in ("root", "0")
    last_run = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "RUN")
    assert users[-1][0] > last_run  # nothing runs as root after the switch


def test_the_image_starts_the_procfile_web_command(procfile):
    instructions = dockerfile_instructions()
    command = json.loads(next(args for keyword, args in instructions if keyword == "CMD"))
    # Through sh so that $PORT is the platform's; `exec` hands uvicorn the signals.
    assert command == ["sh", "-c", f"exec {procfile['web']}"]
    env = " ".join(args for keyword, args in instructions if keyword == "ENV")
    assert re.search(r"\bPORT=8000\b", env)
    assert not any(keyword == "ENTRYPOINT" for keyword, _ in instructions)


def test_the_image_leaves_local_state_and_secrets_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".env", "var", "logs", "staticfiles"):
        assert entry in ignored


# ----------------------------------------------------------------------------- Docker Compose


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_compose_runs_every_procfile_process_with_its_command(compose, procfile):
    assert set(compose) >= PROCESSES
    for name in PROCESSES - {"web"}:
        assert words(compose[name]["command"]) == words(procfile[name]), name
    web = compose["web"]
    port = port_of(web["command"])
    assert words(web["command"]) == with_port(procfile["web"], port)
    assert any(mapping.endswith(f":{port}") for mapping in web["ports"])
    for name in PROCESSES:
        assert (
            compose[name].get("build") == "." and compose[name]["image"] == compose["web"]["image"]
        )


def test_compose_wires_postgres_and_redis_with_healthchecks(compose):
    postgres, redis = compose["postgres"], compose["redis"]
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert "ping" in redis["healthcheck"]["test"]
    database = postgres["environment"]
    expected_database_url = (
        f"postgres://{database['POSTGRES_USER']}:{database['POSTGRES_PASSWORD']}@postgres:5432/"
        f"{database['POSTGRES_DB']}"
    )
    for name in PROCESSES:
        service = compose[name]
        assert service["environment"]["DATABASE_URL"] == expected_database_url, name
        assert service["environment"]["REDIS_URL"].startswith("redis://redis:6379/"), name
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name
    for name in PROCESSES - {"release"}:
        # Migrations first: the release service must have finished.
        condition = compose[name]["depends_on"]["release"]["condition"]
        assert condition == "service_completed_successfully", name
    assert compose["release"]["restart"] == "no"
    # The web process stores uploads that the worker reads: one shared volume.
    assert set(compose["web"]["volumes"]) == set(compose["worker"]["volumes"]) != set()


def test_compose_flower_is_opt_in_and_gets_its_credentials_from_the_environment(compose):
    flower = compose["flower"]
    assert flower["profiles"] == ["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH")
    assert all(mapping.startswith("127.0.0.1:") for mapping in flower["ports"])


# ------------------------------------------------------------------------------------ Fly.io


def test_fly_runs_every_procfile_process(procfile):
    fly = tomllib.loads((ROOT / "fly.toml").read_text())
    processes = fly["processes"]
    assert set(processes) == PROCESSES - {"release"}
    # Release is Fly's release command (a one-off machine before each deploy), not a group.
    assert words(fly["deploy"]["release_command"]) == words(procfile["release"])
    for name in ("worker", "beat", "flower"):
        assert words(processes[name]) == words(procfile[name]), name
    port = fly["http_service"]["internal_port"]
    assert words(processes["web"]) == with_port(procfile["web"], port)
    assert fly["http_service"]["processes"] == ["web"]
    assert [service["processes"] for service in fly["services"]] == [["flower"]]
    assert fly["services"][0]["internal_port"] == int(fly["env"]["FLOWER_PORT"])


# ------------------------------------------------------------------------------------ Render


def test_render_runs_every_procfile_process_with_postgres_and_redis(procfile):
    blueprint = yaml.safe_load((ROOT / "render.yaml").read_text())
    services = {
        service["name"].removeprefix("platform-"): service for service in blueprint["services"]
    }
    web = services["web"]
    assert web["type"] == "web" and "dockerCommand" not in web  # the image's CMD: Procfile web
    assert words(web["preDeployCommand"]) == words(procfile["release"])
    for name in ("worker", "beat", "flower"):
        assert words(services[name]["dockerCommand"]) == words(procfile[name]), name
    assert services["beat"]["numInstances"] == 1
    assert services["redis"]["type"] == "keyvalue"
    assert services["redis"]["maxmemoryPolicy"] == "noeviction"

    database = blueprint["databases"][0]["name"]
    for name in ("web", "worker", "beat", "flower"):
        assert services[name]["runtime"] == "docker", name
        env = {item["key"]: item for item in services[name]["envVars"] if "key" in item}
        assert env["DATABASE_URL"]["fromDatabase"] == {
            "name": database,
            "property": "connectionString",
        }
        assert env["REDIS_URL"]["fromService"]["name"] == "platform-redis", name
        assert {"fromGroup": "platform-settings"} in services[name]["envVars"], name
    flower_env = {item.get("key"): item for item in services["flower"]["envVars"]}
    assert flower_env["FLOWER_BASIC_AUTH"] == {"key": "FLOWER_BASIC_AUTH", "sync": False}
