"""Throw-away scripts that misbehave on purpose, registered only by the tests that import them.

The sandboxed child imports this module by name (PYTHONPATH is the repository), exactly as it
imports the real scripts under scripts_runner/scripts/.
"""

import os
import sys
import time

from scripts_runner.sandbox.runtime import ScriptError
from scripts_runner.services.parameters import IntegerParam, StringParam
from scripts_runner.services.registry import MAINTENANCE, Limits, Script, register

SMALL = Limits(cpu_seconds=5, memory_mb=300, file_size_mb=5, open_files=64)


@register
class EnvProbe(Script):
    name = "t_env_probe"
    category = MAINTENANCE
    timeout = 20
    limits = SMALL

    def run(self, params, ctx):
        for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"):
            print(f"{name}={os.environ.get(name, '<unset>')}")
        return {
            "env": sorted(os.environ),
            "cwd": os.getcwd(),
            "home": os.environ.get("HOME"),
            "data_dir": os.environ.get("PLATFORM_DATA_DIR"),
            "proxy": os.environ.get("HTTPS_PROXY"),
        }


@register
class MemoryHog(Script):
    name = "t_memory_hog"
    category = MAINTENANCE
    timeout = 30
    limits = Limits(cpu_seconds=10, memory_mb=200, file_size_mb=5, open_files=64)

    def run(self, params, ctx):
        hoard = []
        while True:
            hoard.append(bytearray(10 * 1024 * 1024))
            print(f"holding {len(hoard) * 10} MB")


@register
class SlowTimeout(Script):
    name = "t_timeout"
    category = MAINTENANCE
    timeout = 1
    limits = SMALL

    def run(self, params, ctx):
        print("waiting", flush=True)
        time.sleep(30)


@register
class Chatter(Script):
    """Interleaves stdout, stderr and PROGRESS lines."""

    name = "t_chatter"
    category = MAINTENANCE
    timeout = 30
    limits = SMALL
    parameters = [IntegerParam("rounds", default=5, min_value=1, max_value=10_000)]

    def run(self, params, ctx):
        rounds = params["rounds"]
        for i in range(1, rounds + 1):
            print(f"out {i}")
            print(f"err {i}", file=sys.stderr)
            ctx.progress(i * 100 // rounds, f"round {i}")
        print("tail end")
        return {"rounds": rounds}


@register
class TokenUser(Script):
    name = "t_token_user"
    category = MAINTENANCE
    timeout = 20
    limits = SMALL
    credentials = ["t_token"]

    def run(self, params, ctx):
        token = ctx.credential("t_token")
        print(f"token present: {token is not None}")
        print(f"leaking it: {token}")
        return {"length": len(token or "")}


@register
class Failer(Script):
    name = "t_failer"
    category = MAINTENANCE
    timeout = 20
    limits = SMALL
    parameters = [StringParam("how", default="error")]

    def run(self, params, ctx):
        for i in range(30):
            print(f"working {i}")
        if params["how"] == "error":
            raise ScriptError("the input was bad")
        raise RuntimeError("unexpected")
