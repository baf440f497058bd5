"""The registry of job kinds: what each kind of background run is and how the engine treats it.

Every app declares its kinds once, in `<app>/jobs.py` (auto-discovered by core in web and
worker processes), and everything else uses the returned object, never the string:

    # import_manager/jobs.py
    CATALOG_IMPORT = declare_job_kind(
        "catalog.import",
        handler="import_manager.services.runs.run_import_job",
        queue="imports",
        label="Catalog import",
    )

    # import_manager/services/runs.py
    from import_manager.jobs import CATALOG_IMPORT
    start_job(CATALOG_IMPORT, params=...)
    Job.objects.filter(kind=CATALOG_IMPORT.name)

The handler is named by its dotted path (resolved when a job first runs), so `jobs.py` imports
no service and services can import `jobs.py` without a circle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string

from core.exceptions import UnknownJobKind

if TYPE_CHECKING:
    from .job_context import JobContext

# `app.action`: lower-case words, one dot (catalog.import, scripts.run, product.delete_all).
KIND_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


@dataclass(frozen=True, eq=False)
class JobKind:
    """One kind of background run.

    - `queue`: the Celery queue its jobs go to.
    - `label`: what operators read; `aliases`: the original systems' task names for it
      (`import_csv_products`, ...), accepted by the kind filter of the jobs API.
    - `timeout_seconds`: wall-clock limit of one run; None means `JOB_TIMEOUT_SECONDS`.
    - `detail_ref`: dotted path of `f(job) -> dict`, fields the kind adds at the top level of
      `GET /api/jobs/{id}` (an import's `filename`, `total_rows`, `errors`, ...).
    - `rerun_on_worker_lost`: running it again from the start (or from its last checkpoint)
      after its worker died is safe, i.e. it converges on the state an uninterrupted run
      leaves (an idempotent upsert, a sync, work that skips what is done). Such jobs are
      re-queued automatically, up to `max_attempts` (None: JOB_MAX_ATTEMPTS). Any other kind
      (an email, a supplier order, a paid call: an outside effect that may or may not have
      happened) ends `failed` with "worker lost" and is never re-run blindly.
    """

    name: str
    handler_ref: str | Callable[[JobContext], dict | None] = field(repr=False)
    queue: str = "default"
    label: str = ""
    aliases: tuple[str, ...] = ()
    timeout_seconds: int | None = None
    detail_ref: str | None = field(default=None, repr=False)
    rerun_on_worker_lost: bool = False
    max_attempts: int | None = None

    def __str__(self) -> str:
        return self.name

    @cached_property
    def handler(self) -> Callable[[JobContext], dict | None]:
        ref = self.handler_ref
        return import_string(ref) if isinstance(ref, str) else ref

    def detail(self, job) -> dict:
        """The kind's own fields for the job's detail view ({} when it declares none)."""
        return import_string(self.detail_ref)(job) if self.detail_ref else {}

    def effective_timeout(self, default: int) -> int:
        return self.timeout_seconds if self.timeout_seconds is not None else default

    def effective_max_attempts(self, default: int) -> int:
        return self.max_attempts if self.max_attempts is not None else default


_KINDS: dict[str, JobKind] = {}
_ALIASES: dict[str, str] = {}


def declare_job_kind(
    name: str,
    *,
    handler: str | Callable[[JobContext], Any],
    queue: str = "default",
    label: str = "",
    aliases: tuple[str, ...] = (),
    timeout_seconds: int | None = None,
    detail: str | None = None,
    rerun_on_worker_lost: bool = False,
    max_attempts: int | None = None,
) -> JobKind:
    """Register a job kind and return it (import the returned object where it is needed)."""
    if not KIND_NAME_RE.match(name):
        raise ValueError(f"Job kind '{name}' must be named 'app.action' (lower case, one dot).")
    existing = _KINDS.get(name)
    kind = JobKind(
        name=name,
        handler_ref=handler,
        queue=queue,
        label=label or name,
        aliases=tuple(aliases),
        timeout_seconds=timeout_seconds,
        detail_ref=detail,
        rerun_on_worker_lost=rerun_on_worker_lost,
        max_attempts=max_attempts,
    )
    if existing is not None and _ref_name(existing.handler_ref) != _ref_name(handler):
        raise ValueError(f"Job kind '{name}' is declared twice.")
    _KINDS[name] = kind
    for alias in kind.aliases:
        _ALIASES[alias] = name
    return kind


def _ref_name(ref) -> str:
    return ref if isinstance(ref, str) else f"{ref.__module__}.{ref.__qualname__}"


def get_job_kind(kind: str | JobKind) -> JobKind:
    """The declared kind of that name (or alias); UnknownJobKind otherwise."""
    if isinstance(kind, JobKind):
        return kind
    try:
        return _KINDS[_ALIASES.get(kind, kind)]
    except KeyError:
        raise UnknownJobKind(f"Unknown job kind '{kind}'.") from None


def kind_names(names) -> list[str]:
    """Kind names for filter values that may be aliases (unknown names are kept as given)."""
    return [_ALIASES.get(name, name) for name in names]


def job_kinds() -> list[JobKind]:
    """Every declared kind, by name."""
    return [_KINDS[name] for name in sorted(_KINDS)]
