"""Keeping Fienta in step: the merchant's Node/Playwright CLI, run in the core sandbox.

Fienta has no API for discount codes; the merchant's CLI drives its admin:

    npm run dev -- --csv data/codes.csv --email you@example.com --password "***" \\
        [--renamePrefix MOB- --renamePadLength 3 --renameStart 1] \\
        [--updateDiscountPercent 15] [--diffOld a.csv --diffNew b.csv] [--headless] [--dryRun]

When FIENTA_CLI_DIR names its folder, every `fienta.*` job runs it after the platform's own
change, with the document's flags, as `npm --prefix FIENTA_CLI_DIR run FIENTA_CLI_SCRIPT --
...`: its own process group, the job's cancel and a wall-clock timeout, output streamed to
the job's log, FIENTA_EMAIL / FIENTA_PASSWORD given as flags and in the environment and
replaced by [REDACTED] in every line. A failing run fails the job with the CLI's exit code
and last lines. The run is an outside effect: a worker lost during it fails the job rather
than running the CLI twice. The CLI itself is unchanged and stays usable by hand.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings

from core.exceptions import JobCancelled
from core.services.sandbox import CANCELLED, COMPLETED, Limits, SandboxSpec, run_in_job

from ..exceptions import FientaCliFailed
from .files import batch_dir

NOT_CONFIGURED_MESSAGE = (
    "FIENTA_CLI_DIR is not configured: only the platform's codes changed; Fienta was not "
    "updated (run the CLI by hand, or configure it)."
)
# npm's own chatter and network calls, off: a job log is for the CLI's output.
NPM_QUIET_ENV = {
    "npm_config_update_notifier": "false",
    "npm_config_fund": "false",
    "npm_config_audit": "false",
    "npm_config_loglevel": "warn",
}


def fienta_configured() -> bool:
    return bool(settings.FIENTA_CLI_DIR)


def cli_flags(**values) -> list[str]:
    """The CLI's flags for the given values: `True` → `--flag`, False/None/"" → nothing,
    anything else → `--flag value` (names as the CLI spells them: renamePrefix, dryRun)."""
    flags: list[str] = []
    for name, value in values.items():
        if value is True:
            flags.append(f"--{name}")
        elif value not in (None, False, ""):
            flags.extend([f"--{name}", str(value)])
    return flags


def run_fienta_cli(ctx, batch, flags: list[str], *, what: str) -> dict:
    """Run the CLI with `flags` (plus --email/--password) for the job `ctx`; returns what to
    record in the batch's summary. Not configured: logs that only the platform changed."""
    if not fienta_configured():
        ctx.log(NOT_CONFIGURED_MESSAGE)
        return {"status": "not_configured"}
    argv = _command(flags)
    email, password = settings.FIENTA_EMAIL, settings.FIENTA_PASSWORD
    shown = " ".join(["npm run", settings.FIENTA_CLI_SCRIPT, "--", *flags])
    ctx.log(f"Fienta: {what}: {shown} --email [REDACTED] --password [REDACTED]")
    spec = SandboxSpec.for_command(
        [*argv, "--email", email, "--password", password],
        workdir=batch_dir(batch) / "fienta",
        limits=Limits(
            cpu_seconds=settings.FIENTA_CLI_CPU_SECONDS,
            memory_mb=settings.FIENTA_CLI_MEMORY_MB,
            file_size_mb=1024,
            open_files=4096,
        ),
        timeout=settings.FIENTA_CLI_TIMEOUT_SECONDS,
        env={**NPM_QUIET_ENV, "FIENTA_EMAIL": email, "FIENTA_PASSWORD": password},
        secrets=[value for value in (password, email) if value],
        env_allowlist=settings.FIENTA_CLI_ENV_ALLOWLIST,
        label="fienta",
        subject="the Fienta CLI",
    )
    with ctx.unsafe_to_rerun(f"running the Fienta CLI ({what})"):
        outcome = run_in_job(ctx, spec)
    if outcome.status == CANCELLED:
        raise JobCancelled()
    if outcome.status != COMPLETED:
        raise FientaCliFailed(f"Fienta CLI failed ({what}): {outcome.error}")
    ctx.log(f"Fienta: the CLI finished ({outcome.duration:.1f} s).")
    return {"status": "completed", "exit_code": 0, "seconds": round(outcome.duration, 1)}


def _command(flags: list[str]) -> list[str]:
    cli_dir = Path(settings.FIENTA_CLI_DIR)
    if not (cli_dir / "package.json").is_file():
        raise FientaCliFailed(f"FIENTA_CLI_DIR ({cli_dir}) holds no package.json.")
    npm = shutil.which("npm")
    if npm is None:
        raise FientaCliFailed("npm is not installed on this worker (the Fienta CLI needs it).")
    return [npm, "--prefix", str(cli_dir), "run", settings.FIENTA_CLI_SCRIPT, "--", *flags]
