"""`categorize_products`: assign categories by keyword / regular-expression rules.

The rules file is JSON:

    {"rules": [
        {"category": "Footwear > Sneakers", "keywords": ["sneaker", "trainer"],
         "fields": ["name", "description"]},
        {"category": "Bags", "regex": "\\\\b(back)?packs?\\\\b", "exclude": ["keychain"]}
    ]}

(or a bare list of rules), or CSV with columns `category, keywords, regex, fields, exclude`
(`keywords` / `fields` / `exclude` separated by `|`). Rules are tried in file order and the
first match wins. Keywords match whole words, case-insensitively; a regex is searched
case-insensitively; `exclude` keywords veto a rule. `fields` defaults to name, title and
description.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from scripts_runner.sandbox.runtime import ScriptError
from scripts_runner.services.parameters import BooleanParam, FilePathParam, StringParam
from scripts_runner.services.registry import DATA_PROCESSING, Limits, Script, register

from ._products import PRODUCT_EXTENSIONS, ProductFile, ProductWriter, output_next_to

DEFAULT_FIELDS = ["name", "title", "description"]
MAX_RULES = 10_000


@dataclass
class Rule:
    number: int
    category: str
    keywords: list[str] = field(default_factory=list)
    regex: str = ""
    fields: list[str] = field(default_factory=lambda: list(DEFAULT_FIELDS))
    exclude: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.category.strip():
            raise ScriptError(f"Rule {self.number}: a category is required.")
        if not self.keywords and not self.regex:
            raise ScriptError(f"Rule {self.number}: give keywords or a regex.")
        words = "|".join(re.escape(word.strip()) for word in self.keywords if word.strip())
        try:
            self._keywords = re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.I) if words else None
            self._regex = re.compile(self.regex, re.I) if self.regex else None
        except re.error as exc:
            raise ScriptError(f"Rule {self.number}: invalid regex: {exc}.") from None
        vetoes = "|".join(re.escape(word.strip()) for word in self.exclude if word.strip())
        self._exclude = re.compile(rf"(?<!\w)(?:{vetoes})(?!\w)", re.I) if vetoes else None

    def matches(self, row: dict) -> bool:
        text = "\n".join(row.get(name, "") or "" for name in self.fields)
        if self._exclude is not None and self._exclude.search(text):
            return False
        if self._keywords is not None and self._keywords.search(text):
            return True
        return bool(self._regex is not None and self._regex.search(text))


def _split(value) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return [part for part in str(value or "").split("|") if part.strip()]


def load_rules(path: str | Path) -> list[Rule]:
    """Parse a rules file (JSON or CSV) into Rule objects, with errors naming the rule."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ScriptError(f"Rules file: invalid JSON ({exc}).") from None
        items = data.get("rules") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ScriptError("Rules file: expected a list of rules (or {'rules': [...]}).")
    else:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            items = list(csv.DictReader(handle))
    if len(items) > MAX_RULES:
        raise ScriptError(f"Rules file: more than {MAX_RULES} rules.")
    rules = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ScriptError(f"Rule {number}: expected an object.")
        rules.append(
            Rule(
                number=number,
                category=str(item.get("category") or ""),
                keywords=_split(item.get("keywords")),
                regex=str(item.get("regex") or ""),
                fields=_split(item.get("fields")) or list(DEFAULT_FIELDS),
                exclude=_split(item.get("exclude")),
            )
        )
    if not rules:
        raise ScriptError("Rules file: no rules.")
    return rules


@register
class CategorizeProducts(Script):
    name = "categorize_products"
    rerun_safe = True  # writes only its run's files
    category = DATA_PROCESSING
    description = (
        "Assign a category to each product by keyword / regex rules from a rules file (JSON or "
        "CSV; first matching rule wins), writing the categorized products and a report of the "
        "products no rule matched."
    )
    timeout = 1800
    limits = Limits(cpu_seconds=900, memory_mb=1024, file_size_mb=2048, open_files=64)
    parameters = [
        FilePathParam("input_file", required=True, extensions=PRODUCT_EXTENSIONS),
        FilePathParam("rules_file", required=True, extensions=[".json", ".csv"]),
        FilePathParam("output_file", extensions=[".csv"], output="categorized.csv"),
        FilePathParam(
            "unmatched_file",
            must_exist=False,
            extensions=[".csv"],
            help="Products no rule matched (default: <output>.unmatched.csv).",
        ),
        BooleanParam(
            "overwrite", default=False, help="Re-categorize products that already have one."
        ),
        StringParam(
            "default_category",
            max_length=255,
            # Taxonomy paths use ">" ("Apparel > Shoes"), which the shell deny-list refuses;
            # the value only ever lands in a CSV cell, and the pattern bounds it instead.
            pattern=r"[\w &>/,.'()+-]+",
            free_text=True,
            help="Category given to unmatched products (they are still reported). Free text "
            "(a taxonomy path such as 'Apparel > Shoes'): not checked for SQL patterns, it "
            "only lands in a CSV cell.",
        ),
    ]

    def check(self, values):
        if values.get("output_file") == values["input_file"]:
            return {"output_file": ["Must differ from the input file."]}
        return {}

    def run(self, params, ctx):
        rules = load_rules(params["rules_file"])
        ctx.log(f"Loaded {len(rules)} rules from {Path(params['rules_file']).name}")
        products = ProductFile(params["input_file"])
        columns = list(products.columns)
        for extra in ("category", "category_rule"):
            if extra not in columns:
                columns.append(extra)
        unmatched_path = params.get("unmatched_file") or output_next_to(
            params["output_file"], ".unmatched"
        )
        default = params.get("default_category") or ""
        estimate = products.estimate_rows()
        per_category: dict[str, int] = {}
        rows = kept_existing = 0
        with (
            ProductWriter(params["output_file"], columns) as out,
            ProductWriter(unmatched_path, ["sku", "name", "category"]) as unmatched,
        ):
            for row in products:
                rows += 1
                existing = (row.get("category") or "").strip()
                if existing and not params["overwrite"]:
                    kept_existing += 1
                    row["category_rule"] = "existing"
                else:
                    rule = next((rule for rule in rules if rule.matches(row)), None)
                    if rule is None:
                        unmatched.write(
                            {
                                "sku": row.get("sku", ""),
                                "name": row.get("name", ""),
                                "category": default,
                            }
                        )
                        row["category"], row["category_rule"] = default, ""
                    else:
                        row["category"], row["category_rule"] = rule.category, str(rule.number)
                if row["category"]:
                    per_category[row["category"]] = per_category.get(row["category"], 0) + 1
                out.write(row)
                if rows % 20_000 == 0:
                    ctx.progress(min(99, rows * 100 // estimate), f"{rows} rows")
        ctx.log(
            f"Categorized {rows} products: {rows - unmatched.count - kept_existing} by rules, "
            f"{kept_existing} kept their category, {unmatched.count} unmatched"
        )
        for name, count in sorted(per_category.items(), key=lambda item: -item[1])[:20]:
            ctx.log(f"  {count:>8}  {name}")
        return {
            "rows": rows,
            "matched": rows - unmatched.count - kept_existing,
            "kept_existing": kept_existing,
            "unmatched": unmatched.count,
            "categories": per_category,
            "output_file": str(params["output_file"]),
            "unmatched_file": str(unmatched_path),
        }
