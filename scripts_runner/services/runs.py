"""Script runs: validation and launch (API, admin, CLI alike) and execution as a Job.

Launch: `start_script_run(name, values, owner=..., source=...)` validates every parameter (one
path for every entry point), stores the validated values on a `scripts.run` job and enqueues it
on the `scripts` queue. Execution: the `scripts.run` job handler calls `run_script_job(ctx)`,
which validates the stored values again (a file may have changed since), fills the outputs
not given into the job's own folder, then runs the script in the core sandbox
(`core.services.sandbox`, spec from services/sandbox.py) — or, for a workflow, each step in
turn — streaming its output into the job's log and its PROGRESS lines into the job's progress.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from core.exceptions import JobCancelled
from core.models import Job
from core.services.jobs import JobContext, start_job
from core.services.sandbox import CANCELLED, COMPLETED, remove_workdir, run_in_job
from scripts_runner.exceptions import InvalidScriptParameters
from scripts_runner.jobs import SCRIPT_RUN

from .credentials import missing_credentials
from .parameters import JSON, ValidationContext, fill_output_defaults, validate_values
from .registry import ParentStep, Script, ScriptStep, SkipStep, UnknownScript, Workflow, get_script
from .sandbox import script_spec


class ScriptRunFailed(Exception):
    """A run ended badly; the message (job.error) says how and ends with the last lines."""


def data_dir() -> Path:
    return Path(settings.DATA_DIR)


def work_root() -> Path:
    """Folder of the per-run folders (working directory and HOME of each child)."""
    configured = settings.SCRIPTS_WORK_DIR
    return Path(configured) if configured else data_dir() / "script_runs"


def job_dir_for(job_id) -> Path:
    return work_root() / str(job_id)


def remove_job_dir(job_id) -> None:
    """Delete a run's folder (its job is gone), never anything outside the runs' root."""
    remove_workdir(work_root(), str(job_id))


def resolve_script(name) -> type[Script]:
    """The registered script `name`, or a 400 naming `script_name`."""
    try:
        return get_script(name)
    except UnknownScript as exc:
        raise InvalidScriptParameters(str(exc), fields={"script_name": [str(exc)]}) from None


def parameters_from_items(items: list[dict]) -> tuple[dict, dict[str, str], dict[str, list]]:
    """API `[{name, value, type}]` → (values, declared types, errors for repeated names)."""
    values, types, errors = {}, {}, {}
    for item in items:
        name = item["name"]
        if name in values:
            errors[name] = ["Given more than once."]
            continue
        values[name] = item.get("value")
        if item.get("type"):
            types[name] = item["type"]
    return values, types, errors


def validate_script_parameters(
    script: type[Script],
    values: dict,
    *,
    source: str = JSON,
    declared_types: dict[str, str] | None = None,
    extra_errors: dict[str, list] | None = None,
) -> dict:
    """Validated, JSON-ready values for `script`, or InvalidScriptParameters listing every
    problem by parameter name (unknown, wrong type, out of range, missing, unsafe path)."""
    context = ValidationContext(data_dir=data_dir(), source=source)
    cleaned, errors = validate_values(
        script.parameters, values, context, declared_types=declared_types
    )
    for name, messages in (extra_errors or {}).items():
        errors.setdefault(name, []).extend(messages)
    if not errors:
        cleaned = script().complete(cleaned)
        errors.update(script().check(cleaned))
    missing = missing_credentials(script)
    if missing:
        errors["credentials"] = [
            f"Credential '{name}' is not configured (environment variable "
            f"SCRIPT_CREDENTIAL_{name.upper()})."
            for name in missing
        ]
    if errors:
        count = sum(len(messages) for messages in errors.values())
        raise InvalidScriptParameters(
            f"Script '{script.name}': {count} invalid parameter value(s).", fields=errors
        )
    return cleaned


def _job_params(script: type[Script], cleaned: dict) -> dict:
    return {"script_name": script.name, "parameters": cleaned}


def start_script_run(
    name,
    values: dict,
    *,
    owner=None,
    source: str = JSON,
    declared_types: dict[str, str] | None = None,
    extra_errors: dict[str, list] | None = None,
) -> Job:
    """Validate and enqueue a run of script `name` (after the transaction commits)."""
    script = resolve_script(name)
    cleaned = validate_script_parameters(
        script, values, source=source, declared_types=declared_types, extra_errors=extra_errors
    )
    return start_job(
        SCRIPT_RUN, params=_job_params(script, cleaned), owner=owner, title=f"Script: {script.name}"
    )


def create_script_job(name, values: dict, *, owner=None, source: str = JSON) -> Job:
    """Validate and create a run without enqueueing it (the CLI runs it in-process)."""
    script = resolve_script(name)
    cleaned = validate_script_parameters(script, values, source=source)
    return Job.objects.create(
        kind=SCRIPT_RUN.name,
        params=_job_params(script, cleaned),
        owner=owner if owner is not None and owner.is_authenticated else None,
        queue="scripts",
        title=f"Script: {script.name}",
    )


# -- execution (the worker) ---------------------------------------------------------------


@dataclass
class StepContext:
    """What a workflow's ParentStep gets: the job's log/progress and the run's folders."""

    job: JobContext
    job_dir: Path
    data_dir: Path
    name: str
    low: float
    high: float

    @property
    def owner(self):
        return self.job.job.owner

    @property
    def job_id(self):
        return self.job.job.id

    def log(self, line: str) -> None:
        self.job.log(line)

    def log_many(self, lines) -> None:
        self.job.log_many(lines)

    def progress(self, percent: float, message: str = "", **counters) -> None:
        """Step progress 0-100, mapped into the step's share of the job's progress."""
        overall = self.low + (self.high - self.low) * max(0.0, min(100.0, percent)) / 100
        phase = f"{self.name}: {message}" if message else self.name
        self.job.progress(overall, phase=phase[:64], **counters)

    def cancel_requested(self) -> bool:
        return self.job.cancel_requested()

    def check_cancelled(self) -> None:
        self.job.check_cancelled()


class _Runner:
    def __init__(self, ctx: JobContext, job_dir: Path):
        self.ctx = ctx
        self.job_dir = job_dir
        self.deadline: float | None = None

    def child(
        self,
        script: type[Script],
        values: dict,
        *,
        label: str,
        low: float = 0.0,
        high: float = 100.0,
        phase_prefix: str = "",
    ):
        """Run one script in a sandboxed child, its progress mapped into [low, high] and its
        progress messages shown as the job's phase (after `phase_prefix`: a workflow step)."""
        ctx = self.ctx

        def on_progress(percent: float, message: str) -> None:
            overall = low + (high - low) * percent / 100
            phase = f"{phase_prefix}{message}" if message else phase_prefix or script.name
            ctx.progress(overall, phase=phase[:64])

        spec = script_spec(
            script,
            values,
            job_dir=self.job_dir,
            data_dir=data_dir(),
            job_id=str(ctx.job.id),
            label=label,
            max_seconds=self._seconds_left(),
            env_allowlist=settings.SCRIPTS_ENV_ALLOWLIST,
        )
        limits = script.limits
        ctx.log(
            f"[{label}] starting: timeout {spec.timeout:g} s, CPU {limits.cpu_seconds} s, "
            f"memory {limits.memory_mb} MB, file size {limits.file_size_mb} MB, "
            f"open files {limits.open_files}"
        )
        outcome = run_in_job(ctx, spec, on_progress=on_progress)
        if outcome.status == CANCELLED:
            ctx.check_cancelled()  # the precise reason: a cancel, or a worker shutting down
            raise JobCancelled()
        if outcome.status == COMPLETED:
            ctx.log(
                f"[{label}] finished in {outcome.duration:.2f} s "
                f"(CPU {outcome.cpu_seconds:.2f} s, {outcome.lines} lines)"
            )
        else:
            ctx.log(f"[{label}] failed: {outcome.message}")
        return outcome

    def _seconds_left(self) -> float | None:
        """What is left of a workflow's timeout (None outside a workflow)."""
        if self.deadline is None:
            return None
        return max(1.0, self.deadline - time.monotonic())

    def single(self, script: type[Script], values: dict) -> dict:
        values = fill_output_defaults(script.parameters, values, self.job_dir)
        values = script().prepare(values, self.job_dir)
        with self._rerun_guard(script.rerun_safe, f"running {script.name}"):
            outcome = self.child(script, values, label=script.name)
        if outcome.status != COMPLETED:
            raise ScriptRunFailed(outcome.error)
        return {
            "script": script.name,
            "exit_code": 0,
            "duration_seconds": round(outcome.duration, 3),
            "cpu_seconds": round(outcome.cpu_seconds, 3),
            "summary": outcome.summary,
        }

    def _rerun_guard(self, rerun_safe: bool, what: str):
        """A part that is not safe to repeat runs as an unsafe section: if the worker dies
        inside, the job is failed for an operator to check, not re-run."""
        return contextlib.nullcontext() if rerun_safe else self.ctx.unsafe_to_rerun(what)

    def workflow(self, script: type[Workflow], values: dict) -> dict:
        ctx = self.ctx
        self.deadline = time.monotonic() + float(script.timeout)
        steps = script().steps(values, self.job_dir)
        total = sum(step.weight for step in steps) or 1.0
        done = 0.0
        # A re-run after a lost worker picks up after the steps an earlier attempt finished.
        resumed = ctx.checkpoint
        summaries: dict[str, dict] = dict(resumed.get("summaries", {}))
        report = list(resumed.get("report", []))
        for number, step in enumerate(steps, start=1):
            low, high = 100 * done / total, 100 * (done + step.weight) / total
            done += step.weight
            title = f"Step {number}/{len(steps)}: {step.name}"
            if step.name in summaries:
                ctx.log(f"=== {title}: done by attempt {resumed.get('attempt')}, skipped ===")
                continue
            ctx.log(f"=== {title} ===")
            ctx.progress(low, phase=step.name[:64])
            started = time.monotonic()
            try:
                with self._rerun_guard(self._step_rerun_safe(step), f"step {step.name}"):
                    summary = self._step(step, number, summaries, low, high)
            except (JobCancelled, ScriptRunFailed):
                raise
            except InvalidScriptParameters as exc:
                raise ScriptRunFailed(f"{title} failed: invalid parameters {exc.fields}") from None
            except Exception as exc:
                raise ScriptRunFailed(f"{title} failed: {type(exc).__name__}: {exc}") from exc
            if isinstance(summary, SkipStep):
                ctx.log(f"[{step.name}] skipped: {summary.reason}")
                report.append({"step": step.name, "status": "skipped", "reason": summary.reason})
                summaries[step.name] = summary.summary
            else:
                summaries[step.name] = summary
                report.append(
                    {
                        "step": step.name,
                        "status": "completed",
                        "duration_seconds": round(time.monotonic() - started, 3),
                        "summary": summary,
                    }
                )
            ctx.save_checkpoint({"attempt": ctx.attempt, "summaries": summaries, "report": report})
            ctx.check_cancelled()
        return {"script": script.name, "steps": report}

    @staticmethod
    def _step_rerun_safe(step) -> bool:
        if isinstance(step, ScriptStep):
            return get_script(step.script).rerun_safe
        return getattr(step, "rerun_safe", False)

    def _step(self, step, number: int, summaries: dict, low: float, high: float):
        title = f"Step {number} '{step.name}'"
        if isinstance(step, ParentStep):
            step_ctx = StepContext(self.ctx, self.job_dir, data_dir(), step.name, low, high)
            return step.run(step_ctx, summaries)
        if not isinstance(step, ScriptStep):
            raise TypeError(f"Unknown workflow step {step!r}")
        params = step.params(summaries)
        if isinstance(params, SkipStep):
            return params
        step_script = get_script(step.script)
        values = validate_script_parameters(step_script, params)
        step_dir = self.job_dir / "steps" / f"{number:02d}-{step.name}"
        values = fill_output_defaults(step_script.parameters, values, step_dir)
        values = step_script().prepare(values, self.job_dir)
        outcome = self.child(
            step_script,
            values,
            label=f"{number:02d}-{step.name}",
            low=low,
            high=high,
            phase_prefix=f"{step.name}: ",
        )
        if outcome.status != COMPLETED:
            raise ScriptRunFailed(f"{title} failed: {outcome.error}")
        return outcome.summary


def run_script_job(ctx: JobContext) -> dict:
    """The `scripts.run` job: run the stored script with its (re-validated) parameters."""
    name = ctx.params.get("script_name")
    stored = ctx.params.get("parameters") or {}
    script = get_script(name)
    try:
        # Checked again in the worker: a file may have been replaced (e.g. by a symlink
        # leading out) since the launch, and a retry re-runs old parameters.
        values = validate_script_parameters(script, stored, source=JSON)
    except InvalidScriptParameters as exc:
        problems = "; ".join(f"{key}: {' '.join(msgs)}" for key, msgs in exc.fields.items())
        raise ScriptRunFailed(f"The stored parameters are no longer valid: {problems}") from None
    job_dir = job_dir_for(ctx.job.id)
    job_dir.mkdir(parents=True, exist_ok=True)
    runner = _Runner(ctx, job_dir)
    if issubclass(script, Workflow):
        return runner.workflow(script, values)
    return runner.single(script, values)
