"""Typed script parameters: one validation path (API, admin, CLI) and a JSON schema for forms.

Django-free on purpose: scripts declare their parameters with these classes and the sandboxed
child imports the script module without Django settings.

Values arrive in one of three shapes, named by `source`:
- `JSON` (the API, and values stored on a job): typed JSON values, e.g. an integer must be a
  JSON number, a multi-choice a list;
- `TEXT` (CLI `--param key=value`, admin form fields): strings, parsed per type
  ("42", "true", "a,b", "2024-05-01").
Either way a parameter's `clean` returns the JSON-serialisable value stored on the job:
Decimal as a string, dates as ISO strings, file paths as real absolute paths.

Each type has the word of seed 000's API (`type` of a parameter in `POST /api/scripts/execute`
and `GET /api/scripts/{name}`): file, directory, string, integer, decimal, boolean, choice,
multi_choice, date, url. A declared `type` may also be the word a type had before (`file_path`)
or the JSON type of its value (`string` for a choice, a date or a URL; `number` for a decimal;
`array` for a multi-choice; `file` for a directory).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

from .paths import DIRECTORY, FILE, PathRejected, confine_path

JSON = "json"
TEXT = "text"

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MISSING = object()

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Seed 000, security 3: string parameters are checked for SQL patterns. Defence in depth:
# scripts use parameterised queries and never a shell, but a value that looks like an
# injection attempt is refused before it gets anywhere near one.
_UNSAFE_PATTERNS = [
    (_CONTROL_CHARACTERS, "control characters"),
    (re.compile(r"[;`|<>]|\$\(|\$\{|&&"), "shell metacharacters"),
    (re.compile(r"--|/\*|\*/"), "an SQL comment"),
    (
        re.compile(
            r"(?i)\b(union\s+(all\s+)?select|select\s+.+\s+from|insert\s+into|delete\s+from"
            r"|drop\s+(table|database|schema|index)|truncate\s+table|alter\s+table"
            r"|update\s+\w+\s+set|xp_cmdshell|pg_sleep|information_schema)\b"
        ),
        "an SQL statement",
    ),
    (re.compile(r"(?i)'\s*(or|and)\s+'?[\w]*'?\s*=\s*'?[\w]*"), "an SQL tautology"),
]


def unsafe_reason(value: str) -> str | None:
    """What in `value` matches the SQL/shell deny-list, or None when it is clean."""
    for pattern, label in _UNSAFE_PATTERNS:
        if pattern.search(value):
            return label
    return None


class ParameterInvalid(ValueError):
    """A value a parameter refuses; `messages` are shown to the user under its name."""

    def __init__(self, *messages: str):
        super().__init__("; ".join(messages))
        self.messages = list(messages)


@dataclass(frozen=True)
class ValidationContext:
    """What validation needs from the platform: the data directory for file parameters."""

    data_dir: Path
    source: str = JSON


class Parameter:
    """Base class of script parameters.

    `clean(value, context)` parses and checks one given value (never None);
    `describe()` / `schema()` tell a client how to render and pre-check a form field.
    """

    #: The seed document's word for the type (what GET /api/scripts/{name} shows).
    type_name = "any"
    #: Other words a client may declare for it (see the module docstring).
    type_aliases: tuple[str, ...] = ()

    def __init__(
        self,
        name: str,
        *,
        label: str = "",
        help: str = "",
        required: bool = False,
        default=None,
    ):
        if not _NAME_RE.match(name):
            raise ValueError(f"Invalid parameter name {name!r}.")
        if required and default is not None:
            raise ValueError(f"Parameter {name!r} cannot be required and have a default.")
        self.name = name
        self.label = label or name.replace("_", " ").capitalize()
        self.help = help
        self.required = required
        self.default = default

    # -- validation ----------------------------------------------------------------------
    def accepts_type(self, word: str) -> bool:
        """Whether a client's declared `type` names this parameter's type."""
        return word == self.type_name or word in self.type_aliases

    def clean(self, value, context: ValidationContext):
        raise NotImplementedError

    def is_empty(self, value, context: ValidationContext) -> bool:
        """None, and an empty string from a text source, mean "not given"."""
        return value is None or (context.source == TEXT and value == "")

    # -- description ---------------------------------------------------------------------
    def constraints(self) -> dict:
        """Type-specific constraints for `describe()` (min/max, choices, ...)."""
        return {}

    def json_schema(self) -> dict:
        """JSON-schema fragment of the value (without title/description/default)."""
        return {}

    def describe(self) -> dict:
        return {
            "name": self.name,
            "type": self.type_name,
            "label": self.label,
            "help": self.help,
            "required": self.required,
            "default": self.default,
            **self.constraints(),
        }

    def schema(self) -> dict:
        fragment = {"title": self.label, **self.json_schema(), "x-type": self.type_name}
        if self.help:
            fragment["description"] = self.help
        if self.default is not None:
            fragment["default"] = self.default
        return fragment


class StringParam(Parameter):
    """Text, checked for SQL and shell patterns (see _UNSAFE_PATTERNS) unless `free_text`.

    `free_text=True` is for a value that must accept any wording (a category name with `>`,
    a regular expression) and never reaches SQL or a shell; its help text must say "free text"
    so the user knows, and scripts_runner/README.md lists every such parameter. Control
    characters are refused either way.
    """

    type_name = "string"

    def __init__(
        self,
        name,
        *,
        min_length: int = 0,
        max_length: int = 1000,
        pattern: str | None = None,
        free_text: bool = False,
        **kwargs,
    ):
        super().__init__(name, **kwargs)
        if free_text and "free text" not in self.help.lower():
            raise ValueError(f"Parameter {name!r} is free text: its help text must say so.")
        self.min_length = min_length
        self.max_length = max_length
        self.pattern = pattern
        self._regex = re.compile(pattern) if pattern else None
        self.free_text = free_text

    def clean(self, value, context):
        if not isinstance(value, str):
            raise ParameterInvalid("Expected a string.")
        problems = []
        if len(value) < self.min_length:
            problems.append(f"Must be at least {self.min_length} characters long.")
        if len(value) > self.max_length:
            problems.append(f"Must be at most {self.max_length} characters long.")
        if self._regex is not None and not self._regex.fullmatch(value):
            problems.append(f"Must match the pattern {self.pattern}.")
        if "\x00" in value:
            problems.append("Must not contain NUL bytes.")
        elif reason := self._unsafe(value):
            problems.append(f"Contains {reason}, which is not allowed.")
        if problems:
            raise ParameterInvalid(*problems)
        return value

    def _unsafe(self, value: str) -> str | None:
        if not self.free_text:
            return unsafe_reason(value)
        return "control characters" if _CONTROL_CHARACTERS.search(value) else None

    def constraints(self):
        return {
            "min_length": self.min_length,
            "max_length": self.max_length,
            "pattern": self.pattern,
            "free_text": self.free_text,
        }

    def json_schema(self):
        schema = {"type": "string", "minLength": self.min_length, "maxLength": self.max_length}
        if self.pattern:
            schema["pattern"] = self.pattern
        return schema


def _check_range(value, minimum, maximum) -> list[str]:
    problems = []
    if minimum is not None and value < minimum:
        problems.append(f"Must be at least {minimum}.")
    if maximum is not None and value > maximum:
        problems.append(f"Must be at most {maximum}.")
    return problems


class IntegerParam(Parameter):
    type_name = "integer"
    _TEXT_RE = re.compile(r"^[+-]?\d{1,18}$")

    def __init__(self, name, *, min_value: int | None = None, max_value: int | None = None, **kw):
        super().__init__(name, **kw)
        self.min_value = min_value
        self.max_value = max_value

    def clean(self, value, context):
        if context.source == TEXT and isinstance(value, str):
            if not self._TEXT_RE.match(value.strip()):
                raise ParameterInvalid("Expected an integer.")
            value = int(value.strip())
        # bool is an int subclass in Python but not an integer to a user.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterInvalid("Expected an integer.")
        if problems := _check_range(value, self.min_value, self.max_value):
            raise ParameterInvalid(*problems)
        return value

    def constraints(self):
        return {"min_value": self.min_value, "max_value": self.max_value}

    def json_schema(self):
        schema = {"type": "integer"}
        if self.min_value is not None:
            schema["minimum"] = self.min_value
        if self.max_value is not None:
            schema["maximum"] = self.max_value
        return schema


class DecimalParam(Parameter):
    """An exact decimal (money, rates). Accepts a JSON number or a numeric string; stored as a
    string so no float ever touches the value."""

    type_name = "decimal"
    type_aliases = ("number",)
    _TEXT_RE = re.compile(r"^[+-]?(\d{1,20}(\.\d{0,12})?|\.\d{1,12})$")

    def __init__(
        self,
        name,
        *,
        min_value=None,
        max_value=None,
        decimal_places: int | None = None,
        **kw,
    ):
        super().__init__(name, **kw)
        self.min_value = Decimal(str(min_value)) if min_value is not None else None
        self.max_value = Decimal(str(max_value)) if max_value is not None else None
        self.decimal_places = decimal_places
        if kw.get("default") is not None:
            self.default = str(kw["default"])

    def clean(self, value, context):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ParameterInvalid("Expected a decimal number.")
        text = str(value).strip()
        if not self._TEXT_RE.match(text):
            raise ParameterInvalid("Expected a decimal number.")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ParameterInvalid("Expected a decimal number.") from None
        problems = _check_range(number, self.min_value, self.max_value)
        if self.decimal_places is not None and -number.as_tuple().exponent > self.decimal_places:
            problems.append(f"Must have at most {self.decimal_places} decimal places.")
        if problems:
            raise ParameterInvalid(*problems)
        return str(number)

    def constraints(self):
        return {
            "min_value": None if self.min_value is None else str(self.min_value),
            "max_value": None if self.max_value is None else str(self.max_value),
            "decimal_places": self.decimal_places,
        }

    def json_schema(self):
        # A number for form rendering; a numeric string is accepted too (exactness).
        schema = {"type": ["number", "string"], "format": "decimal"}
        if self.min_value is not None:
            schema["minimum"] = float(self.min_value)
        if self.max_value is not None:
            schema["maximum"] = float(self.max_value)
        return schema


class BooleanParam(Parameter):
    type_name = "boolean"
    _TRUE = {"true", "yes", "1", "on"}
    _FALSE = {"false", "no", "0", "off"}

    def clean(self, value, context):
        if context.source == TEXT and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in self._TRUE:
                return True
            if lowered in self._FALSE:
                return False
        if not isinstance(value, bool):
            raise ParameterInvalid("Expected a boolean (true or false).")
        return value

    def json_schema(self):
        return {"type": "boolean"}


class ChoiceParam(Parameter):
    type_name = "choice"
    type_aliases = ("string",)

    def __init__(self, name, *, choices, **kw):
        super().__init__(name, **kw)
        self.choices = _normalise_choices(choices)

    @property
    def values(self) -> list[str]:
        return [value for value, _ in self.choices]

    def clean(self, value, context):
        if not isinstance(value, str) or value not in self.values:
            raise ParameterInvalid(f"Must be one of: {', '.join(self.values)}.")
        return value

    def constraints(self):
        return {"choices": [{"value": v, "label": label} for v, label in self.choices]}

    def json_schema(self):
        return {"type": "string", "enum": self.values}


class MultiChoiceParam(Parameter):
    type_name = "multi_choice"
    type_aliases = ("array",)

    def __init__(self, name, *, choices, min_items: int = 0, max_items: int | None = None, **kw):
        super().__init__(name, **kw)
        self.choices = _normalise_choices(choices)
        self.min_items = min_items
        self.max_items = max_items

    @property
    def values(self) -> list[str]:
        return [value for value, _ in self.choices]

    def clean(self, value, context):
        if context.source == TEXT and isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ParameterInvalid("Expected a list of choices.")
        problems = []
        unknown = [item for item in value if item not in self.values]
        if unknown:
            problems.append(
                f"Unknown choice(s): {', '.join(unknown)}; allowed: {', '.join(self.values)}."
            )
        if len(set(value)) != len(value):
            problems.append("Each choice may be given once.")
        if len(value) < self.min_items:
            problems.append(f"Choose at least {self.min_items}.")
        if self.max_items is not None and len(value) > self.max_items:
            problems.append(f"Choose at most {self.max_items}.")
        if problems:
            raise ParameterInvalid(*problems)
        return list(value)

    def is_empty(self, value, context):
        return super().is_empty(value, context) or (context.source == TEXT and value == [])

    def constraints(self):
        return {
            "choices": [{"value": v, "label": label} for v, label in self.choices],
            "min_items": self.min_items,
            "max_items": self.max_items,
        }

    def json_schema(self):
        schema = {
            "type": "array",
            "items": {"type": "string", "enum": self.values},
            "uniqueItems": True,
            "minItems": self.min_items,
        }
        if self.max_items is not None:
            schema["maxItems"] = self.max_items
        return schema


class DateParam(Parameter):
    type_name = "date"
    type_aliases = ("string",)

    def __init__(self, name, *, min_value: dt.date | None = None, max_value=None, **kw):
        super().__init__(name, **kw)
        self.min_value = min_value
        self.max_value = max_value

    def clean(self, value, context):
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ParameterInvalid("Expected a date as YYYY-MM-DD.")
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ParameterInvalid("Not a valid calendar date.") from None
        if problems := _check_range(day, self.min_value, self.max_value):
            raise ParameterInvalid(*problems)
        return day.isoformat()

    def constraints(self):
        return {
            "min_value": self.min_value.isoformat() if self.min_value else None,
            "max_value": self.max_value.isoformat() if self.max_value else None,
        }

    def json_schema(self):
        schema = {"type": "string", "format": "date"}
        if self.min_value:
            schema["formatMinimum"] = self.min_value.isoformat()
        if self.max_value:
            schema["formatMaximum"] = self.max_value.isoformat()
        return schema


class UrlParam(Parameter):
    type_name = "url"
    type_aliases = ("string",)

    def __init__(self, name, *, schemes=("https", "http"), max_length: int = 2048, **kw):
        super().__init__(name, **kw)
        self.schemes = tuple(schemes)
        self.max_length = max_length

    def clean(self, value, context):
        if not isinstance(value, str):
            raise ParameterInvalid("Expected a URL (a string).")
        value = value.strip()
        if len(value) > self.max_length:
            raise ParameterInvalid(f"Must be at most {self.max_length} characters long.")
        if re.search(r"[\s\x00-\x1f\x7f]", value):
            raise ParameterInvalid("A URL must not contain spaces or control characters.")
        try:
            parts = urlsplit(value)
            _ = parts.port  # raises on a malformed port
        except ValueError:
            raise ParameterInvalid("Not a valid URL.") from None
        if parts.scheme.lower() not in self.schemes:
            raise ParameterInvalid(f"The URL scheme must be one of: {', '.join(self.schemes)}.")
        if not parts.hostname:
            raise ParameterInvalid("The URL has no host.")
        if parts.username or parts.password:
            raise ParameterInvalid("Credentials do not belong in a URL; use a named credential.")
        return value

    def constraints(self):
        return {"schemes": list(self.schemes), "max_length": self.max_length}

    def json_schema(self):
        return {"type": "string", "format": "uri", "maxLength": self.max_length}


class FilePathParam(Parameter):
    """A file or directory inside the data directory (see services/paths.py).

    `must_exist` for inputs; outputs (`must_exist=False`) may be new but are still confined.
    `extensions` (e.g. [".csv", ".json"]) restricts file names. `output="kept.csv"` marks an
    output that, when not given, is written into the job's own folder under that name (see
    `fill_output_defaults`; the worker fills it in, since the folder exists only then).
    """

    def __init__(
        self,
        name,
        *,
        kind: str = FILE,
        must_exist: bool = True,
        extensions: list[str] | None = None,
        output: str | None = None,
        **kw,
    ):
        if output is not None:
            if kw.get("required") or kw.get("default") is not None:
                raise ValueError(f"Output {name!r} defaults to the job's folder: not required.")
            must_exist = False
            where = f"Default: {output} in the job's folder."
            kw["help"] = f"{kw['help']} {where}" if kw.get("help") else where
        super().__init__(name, **kw)
        if kind not in (FILE, DIRECTORY):
            raise ValueError("kind must be 'file' or 'dir'")
        self.kind = kind
        self.type_name = "file" if kind == FILE else "directory"
        # "file_path": this API's word before it took the seed's; a directory is a file too.
        self.type_aliases = ("file_path",) if kind == FILE else ("file_path", "file")
        self.must_exist = must_exist
        self.extensions = [ext.lower() for ext in extensions] if extensions else None
        self.output = output

    def clean(self, value, context):
        try:
            path = confine_path(value, context.data_dir, kind=self.kind, must_exist=self.must_exist)
        except PathRejected as exc:
            raise ParameterInvalid(str(exc)) from None
        if self.extensions and path.suffix.lower() not in self.extensions:
            raise ParameterInvalid(f"The file name must end in {' or '.join(self.extensions)}.")
        return str(path)

    def constraints(self):
        return {
            "kind": self.kind,
            "must_exist": self.must_exist,
            "extensions": self.extensions,
            "output_default": self.output,
        }

    def json_schema(self):
        return {
            "type": "string",
            "format": "path",
            "x-path-kind": self.kind,
            "x-must-exist": self.must_exist,
            "maxLength": 4096,
        }


def fill_output_defaults(parameters: list[Parameter], values: dict, folder) -> dict:
    """`values` with every output parameter not given set to its name in `folder` (the
    job's own folder, created by the worker)."""
    filled = dict(values)
    for param in parameters:
        if isinstance(param, FilePathParam) and param.output and filled.get(param.name) is None:
            filled[param.name] = str(Path(folder) / param.output)
    return filled


def _normalise_choices(choices) -> list[tuple[str, str]]:
    result = []
    for choice in choices:
        if isinstance(choice, (tuple, list)):
            result.append((str(choice[0]), str(choice[1])))
        else:
            result.append((str(choice), str(choice)))
    if not result:
        raise ValueError("A choice parameter needs at least one choice.")
    return result


def validate_values(
    parameters: list[Parameter],
    values: dict,
    context: ValidationContext,
    *,
    declared_types: dict[str, str] | None = None,
) -> tuple[dict, dict[str, list[str]]]:
    """Check `values` ({name: value}) against `parameters`.

    Returns (cleaned, errors): cleaned holds every parameter (defaults filled in, optional
    ones without a default omitted); errors maps each offending name to its messages: unknown
    names, types that do not match `declared_types`, invalid values, missing required ones.
    """
    by_name = {param.name: param for param in parameters}
    default_context = ValidationContext(data_dir=context.data_dir, source=JSON)
    errors: dict[str, list[str]] = {}
    cleaned: dict = {}
    for name in values:
        if name not in by_name:
            errors[str(name)] = ["Unknown parameter."]
    for name, declared in (declared_types or {}).items():
        param = by_name.get(name)
        if param is not None and declared and not param.accepts_type(declared):
            errors.setdefault(name, []).append(
                f"Declared type '{declared}' does not match the parameter's type "
                f"'{param.type_name}'."
            )
    for param in parameters:
        if param.name in errors:
            continue
        value = values.get(param.name, _MISSING)
        if value is _MISSING or param.is_empty(value, context):
            if param.required:
                errors[param.name] = ["This parameter is required."]
            elif param.default is not None:
                # Defaults go through the same checks (a default file path is confined too).
                try:
                    cleaned[param.name] = param.clean(param.default, default_context)
                except ParameterInvalid as exc:
                    errors[param.name] = [f"Default value: {m}" for m in exc.messages]
            continue
        try:
            cleaned[param.name] = param.clean(value, context)
        except ParameterInvalid as exc:
            errors[param.name] = exc.messages
    return cleaned, errors


def json_schema(parameters: list[Parameter]) -> dict:
    """A JSON schema (draft 2020-12) of a script's parameters, for rendering a form."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {param.name: param.schema() for param in parameters},
        "required": [param.name for param in parameters if param.required],
        "additionalProperties": False,
    }
