"""A script's run in the core sandbox (`core.services.sandbox`): what is script-specific.

The core service spawns the child (own process group, rlimits, reduced environment, the run's
folder, kill on cancel or timeout, no orphans). This module says what that child runs for a
script: `scripts_runner.sandbox.child.run_script` importing the script's module, with the
script's limits and timeout, the data directory, and only the credentials it declares (their
values redacted from the output).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from core.services.sandbox import SandboxSpec

from .credentials import ENV_PREFIX, credentials_env
from .registry import Script

SCRIPT_ENTRY = "scripts_runner.sandbox.child:run_script"


def script_spec(
    script: type[Script],
    values: dict,
    *,
    job_dir: Path,
    data_dir: Path,
    job_id: str = "",
    label: str = "",
    max_seconds: float | None = None,
    env_allowlist: Iterable[str] = (),
) -> SandboxSpec:
    """The sandbox spec of one run of `script` with validated `values`.

    `max_seconds` shortens the script's own timeout (a workflow's remaining time). Raises
    MissingCredential when a required credential is not configured.
    """
    credentials = credentials_env(script)
    timeout = float(script.timeout)
    if max_seconds is not None:
        timeout = min(timeout, max_seconds)
    return SandboxSpec.for_callable(
        SCRIPT_ENTRY,
        payload={
            "script": script.name,
            "module": script.__module__,
            "qualname": script.__qualname__,
            "params": values,
            "job_dir": str(job_dir),
            "data_dir": str(data_dir),
            "job_id": job_id,
        },
        workdir=Path(job_dir),
        limits=script.limits,
        timeout=timeout,
        env={"PLATFORM_DATA_DIR": str(data_dir), **credentials},
        secrets=tuple(credentials.values()),
        # A credential reaches only the scripts declaring it, whatever the allowlist says.
        env_allowlist=tuple(name for name in env_allowlist if not name.startswith(ENV_PREFIX)),
        label=label or script.name,
        subject="the script",
    )
