"""How scripts are described to clients (API, admin, CLI): summaries, details, JSON schema."""

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
        "parameters": [
            {"name": p.name, "type": p.type_name, "required": p.required} for p in script.parameters
        ],
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


def scripts_by_category_key() -> dict[str, list[dict]]:
    """`GET /api/scripts` as seed 000 shows it: {category: [script summaries]} for every
    category, in a fixed order (data_import, data_processing, shopify, maintenance,
    workflows)."""
    return {
        key: [script_summary(s) for s in scripts] for key, _label, scripts in scripts_by_category()
    }


def scripts_grouped() -> list[dict]:
    """Every category (in a fixed order) with its label and scripts (admin, CLI)."""
    return [
        {"category": key, "label": label, "scripts": [script_summary(s) for s in scripts]}
        for key, label, scripts in scripts_by_category()
    ]
