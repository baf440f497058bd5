"""The script runner's entry in the sandboxed child: `run_script(payload)`.

The core sandbox (`core.sandbox.child_runtime`) has already put the script's limits on the
process, reduced its environment and moved it into the run's folder; it calls this function
with the payload `services/sandbox.script_spec` wrote and stores the returned summary.
Importing the script module happens here, after the limits are in place.
"""

from __future__ import annotations

import importlib

from scripts_runner.sandbox.runtime import RunContext


def _load(module_name: str, qualname: str):
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def run_script(payload: dict) -> dict:
    """Run one registered script's `run` with its validated parameters; returns its summary."""
    script_cls = _load(payload["module"], payload["qualname"])
    ctx = RunContext(
        script=payload["script"],
        job_dir=payload["job_dir"],
        data_dir=payload["data_dir"],
        job_id=payload.get("job_id", ""),
    )
    return script_cls().run(payload["params"], ctx) or {}
