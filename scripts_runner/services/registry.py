"""The script registry: one class per script, declared in `scripts_runner/scripts/<name>.py`.

Django-free on purpose: the sandboxed child imports script modules (and so this one) without
Django settings. Code that runs in the worker only (`Script.prepare`, workflow steps that use
the catalog) imports Django lazily inside the method.

    @register
    class FilterProducts(Script):
        name = "filter_products"
        category = DATA_PROCESSING
        description = "..."
        timeout = 600
        limits = Limits(cpu_seconds=300, memory_mb=1024)
        parameters = [FilePathParam("input_file", required=True), ...]

        def run(self, params, ctx):          # runs in the sandboxed child
            ...
            return {"kept": 10}              # becomes the job's result summary
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

# The core sandbox's limits; scripts import them from here with the rest of a declaration.
from core.sandbox.protocol import Limits

from .parameters import Parameter

if TYPE_CHECKING:
    from scripts_runner.sandbox.runtime import RunContext

DATA_IMPORT = "data_import"
DATA_PROCESSING = "data_processing"
SHOPIFY = "shopify"
MAINTENANCE = "maintenance"
WORKFLOWS = "workflows"

CATEGORIES = {
    DATA_IMPORT: "Data import",
    DATA_PROCESSING: "Data processing",
    SHOPIFY: "Shopify",
    MAINTENANCE: "Maintenance",
    WORKFLOWS: "Workflows",
}

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_CREDENTIAL_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
# Path segments of the API that a script name must not shadow.
RESERVED_NAMES = {"execute"}
SCRIPTS_PACKAGE = "scripts_runner.scripts"


class UnknownScript(LookupError):
    pass


class Script:
    """Base class of registered scripts. Subclasses set the class attributes and `run`."""

    name: ClassVar[str] = ""
    category: ClassVar[str] = MAINTENANCE
    description: ClassVar[str] = ""
    #: Wall-clock seconds before the run is killed.
    timeout: ClassVar[float] = 600
    #: Running it again from the start after its worker died converges on what one
    #: uninterrupted run leaves (it writes only files of its run, or upserts by key). A
    #: script with an outside effect that may or may not have happened leaves it False: a
    #: lost run of it is failed for an operator to check, never re-run blindly.
    rerun_safe: ClassVar[bool] = False
    limits: ClassVar[Limits] = Limits()
    parameters: ClassVar[list[Parameter]] = []
    #: Named credentials the run needs; only these are put in the child's environment.
    credentials: ClassVar[list[str]] = []
    #: Named credentials passed when configured, and not required.
    optional_credentials: ClassVar[list[str]] = []

    def complete(self, values: dict) -> dict:
        """Values that depend on other values (e.g. a default that follows from another
        parameter), filled in once each value passed its own checks, before `check`."""
        return values

    def check(self, values: dict) -> dict[str, list[str]]:
        """Cross-parameter checks after each value passed its own ({name: [messages]})."""
        return {}

    def prepare(self, values: dict, workdir) -> dict:
        """Runs in the worker (Django available) before the child starts; returns the values
        the child gets. Used to hand catalog data to the child through a file."""
        return values

    def run(self, params: dict, ctx: RunContext) -> dict | None:
        """Runs in the sandboxed child. Print lines; `ctx.progress(...)`; return a summary."""
        raise NotImplementedError


@dataclass
class ScriptStep:
    """A workflow step run as its own sandboxed child with that script's limits.

    `params(previous)` builds the step's parameter values from the earlier steps' summaries
    ({step name: summary}); they pass the step script's validation like any launch.
    """

    name: str
    script: str
    params: Callable[[dict], dict]
    weight: float = 1.0


@dataclass
class ParentStep:
    """A workflow step run in the worker itself (it needs the database, e.g. a catalog import).

    `run(step_ctx, previous)` returns the step's summary; it logs through `step_ctx.log`.
    `rerun_safe` as for scripts (a catalog import is: its merge is an idempotent upsert).
    """

    name: str
    run: Callable[[Any, dict], dict]
    weight: float = 1.0
    rerun_safe: bool = False


@dataclass
class SkipStep:
    """Returned by a step's params/run to say the step does not apply to this run."""

    reason: str = ""
    summary: dict = field(default_factory=dict)


class Workflow(Script):
    """A script made of steps orchestrated by the worker; stops at the first failed step.

    After a lost worker, a re-run skips the steps an earlier attempt completed (their
    summaries are checkpointed) and repeats the interrupted step only if it is rerun-safe.
    """

    category: ClassVar[str] = WORKFLOWS
    rerun_safe: ClassVar[bool] = True  # step by step, see above

    def steps(self, values: dict, workdir) -> list[ScriptStep | ParentStep]:
        """The steps of this run; `workdir` is the run's folder (for intermediate files)."""
        raise NotImplementedError

    def run(self, params, ctx):  # pragma: no cover - workflows never run in a child
        raise RuntimeError("A workflow is orchestrated by the worker, not run in a child.")


_REGISTRY: dict[str, type[Script]] = {}
_LOADED = False
_LOAD_LOCK = threading.Lock()


def register(cls: type[Script]) -> type[Script]:
    """Class decorator: add a script to the registry (checking its declaration)."""
    if not _NAME_RE.match(cls.name or "") or cls.name in RESERVED_NAMES:
        raise ValueError(f"Invalid script name {cls.name!r}.")
    if cls.category not in CATEGORIES:
        raise ValueError(f"Script {cls.name}: unknown category {cls.category!r}.")
    names = [param.name for param in cls.parameters]
    if len(set(names)) != len(names):
        raise ValueError(f"Script {cls.name}: duplicate parameter names.")
    for credential in [*cls.credentials, *cls.optional_credentials]:
        if not _CREDENTIAL_RE.match(credential):
            raise ValueError(f"Script {cls.name}: invalid credential name {credential!r}.")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"Two scripts are named {cls.name!r}.")
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a script (tests that register throw-away scripts)."""
    _REGISTRY.pop(name, None)


def load_scripts() -> None:
    """Import every module of `scripts_runner.scripts` once, registering its scripts."""
    global _LOADED
    if _LOADED:
        return
    with _LOAD_LOCK:
        if _LOADED:
            return
        package = importlib.import_module(SCRIPTS_PACKAGE)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{SCRIPTS_PACKAGE}.{module.name}")
        _LOADED = True


def get_script(name: str) -> type[Script]:
    """The registered script class called `name`; raises UnknownScript."""
    load_scripts()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownScript(f"Unknown script '{name}'.") from None


def all_scripts() -> list[type[Script]]:
    """Every registered script, sorted by category order then name."""
    load_scripts()
    order = list(CATEGORIES)
    return sorted(_REGISTRY.values(), key=lambda cls: (order.index(cls.category), cls.name))


def scripts_by_category() -> list[tuple[str, str, list[type[Script]]]]:
    """[(category, label, [script classes])] for every category, in a stable order."""
    scripts = all_scripts()
    return [
        (key, label, [cls for cls in scripts if cls.category == key])
        for key, label in CATEGORIES.items()
    ]
