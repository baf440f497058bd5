"""How scripts are described to clients (API, admin): summaries, details, JSON schema."""

from __future__ import annotations

from .credentials import credential_status
from .parameters import json_schema
from .registry import CATEGORIES, Script, Workflow, get_script, scripts_by_category


def script_summary(script: type[Script]) -> dict:
    return {
        "name": script.name,
        "category": script.category,
        "description": script.description,
        "is_workflow": issubclass(script, Workflow),
        "timeout_seconds": script.timeout,
        "limits": script.limits.as_dict(),
        "credentials": credential_status(script),
        "parameter_count": len(script.parameters),
    }


def script_detail(name: str) -> dict:
    """Everything a client needs to render a launch form (raises UnknownScript)."""
    script = get_script(name)
    return {
        **script_summary(script),
        "category_label": CATEGORIES[script.category],
        "parameters": [param.describe() for param in script.parameters],
        "schema": json_schema(script.parameters),
    }


def scripts_grouped() -> list[dict]:
    """Every category (in a fixed order) with its scripts."""
    return [
        {"category": key, "label": label, "scripts": [script_summary(s) for s in scripts]}
        for key, label, scripts in scripts_by_category()
    ]
