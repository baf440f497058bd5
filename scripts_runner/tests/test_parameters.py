"""Typed parameters: each type's validation from JSON (API) and text (CLI/admin), the
deny-list (every string parameter of every script), free text, output defaults, error
aggregation by name, and the JSON schema."""

import datetime as dt
import re
from pathlib import Path

import pytest

from scripts_runner.services.parameters import (
    JSON,
    TEXT,
    BooleanParam,
    ChoiceParam,
    DateParam,
    DecimalParam,
    FilePathParam,
    IntegerParam,
    MultiChoiceParam,
    ParameterInvalid,
    StringParam,
    UrlParam,
    ValidationContext,
    fill_output_defaults,
    json_schema,
    unsafe_reason,
    validate_values,
)
from scripts_runner.services.registry import all_scripts
from scripts_runner.services.runs import InvalidScriptParameters, validate_script_parameters


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "in.csv").write_text("sku\n")
    return ValidationContext(data_dir=tmp_path, source=JSON)


def check(param, value, ctx, source=JSON):
    cleaned, errors = validate_values(
        [param], {param.name: value}, ValidationContext(ctx.data_dir, source)
    )
    return cleaned.get(param.name), errors.get(param.name)


def test_string_length_pattern_and_type(ctx):
    param = StringParam("code", min_length=2, max_length=5, pattern=r"[A-Z]+")
    assert check(param, "ABC", ctx) == ("ABC", None)
    assert check(param, "A", ctx)[1] == ["Must be at least 2 characters long."]
    assert check(param, "ABCDEF", ctx)[1] == ["Must be at most 5 characters long."]
    assert check(param, "abc", ctx)[1] == ["Must match the pattern [A-Z]+."]
    assert check(param, 12, ctx)[1] == ["Expected a string."]
    # every problem of one value is listed
    assert len(check(param, "abcdefg", ctx)[1]) == 2


@pytest.mark.parametrize(
    "value",
    [
        "x; rm -rf /",
        "$(reboot)",
        "`id`",
        "a | nc host 1",
        "a && b",
        "out > /etc/passwd",
        "name' OR '1'='1",
        "1; DROP TABLE product",
        "x UNION SELECT password FROM core_user",
        "abc -- comment",
        "/* hidden */",
        "line\nbreak",
        "pg_sleep(10)",
    ],
)
def test_string_deny_list_refuses_sql_and_shell_patterns(ctx, value):
    _, errors = check(StringParam("q"), value, ctx)
    assert errors and "not allowed" in errors[0]
    assert unsafe_reason(value)


@pytest.mark.parametrize(
    "value", ["Black & Decker", "Men's shoes", "50% off", "size: 42/43", "café, crème", "a-b_c"]
)
def test_string_deny_list_lets_ordinary_text_through(ctx, value):
    assert check(StringParam("q"), value, ctx) == (value, None)


def test_integer_range_type_and_text(ctx):
    param = IntegerParam("n", min_value=1, max_value=10)
    assert check(param, 5, ctx) == (5, None)
    assert check(param, 0, ctx)[1] == ["Must be at least 1."]
    assert check(param, 11, ctx)[1] == ["Must be at most 10."]
    assert check(param, "5", ctx)[1] == ["Expected an integer."]  # JSON: a number, not a string
    assert check(param, 5.5, ctx)[1] == ["Expected an integer."]
    assert check(param, True, ctx)[1] == ["Expected an integer."]
    assert check(param, "7", ctx, TEXT) == (7, None)
    assert check(param, "7x", ctx, TEXT)[1] == ["Expected an integer."]


def test_decimal_is_exact_and_bounded(ctx):
    param = DecimalParam("price", min_value="0.01", max_value="999.99", decimal_places=2)
    assert check(param, "19.90", ctx) == ("19.90", None)
    assert check(param, 0.1, ctx) == ("0.1", None)
    assert check(param, 3, ctx) == ("3", None)
    assert check(param, "0", ctx)[1] == ["Must be at least 0.01."]
    assert check(param, "1000", ctx)[1] == ["Must be at most 999.99."]
    assert check(param, "1.234", ctx)[1] == ["Must have at most 2 decimal places."]
    assert check(param, "NaN", ctx)[1] == ["Expected a decimal number."]
    assert check(param, "1e3", ctx)[1] == ["Expected a decimal number."]
    assert check(param, False, ctx)[1] == ["Expected a decimal number."]


def test_boolean_strict_in_json_and_words_in_text(ctx):
    param = BooleanParam("flag")
    assert check(param, True, ctx) == (True, None)
    assert check(param, "true", ctx)[1] == ["Expected a boolean (true or false)."]
    assert check(param, 1, ctx)[1] == ["Expected a boolean (true or false)."]
    for word, value in [("yes", True), ("FALSE", False), ("0", False), ("on", True)]:
        assert check(param, word, ctx, TEXT) == (value, None)
    assert check(param, "maybe", ctx, TEXT)[1] == ["Expected a boolean (true or false)."]


def test_choice_and_multi_choice(ctx):
    choice = ChoiceParam("mode", choices=[("a", "A"), ("b", "B")])
    assert check(choice, "b", ctx) == ("b", None)
    assert check(choice, "c", ctx)[1] == ["Must be one of: a, b."]
    multi = MultiChoiceParam("ext", choices=["jpg", "png", "gif"], min_items=1, max_items=2)
    assert check(multi, ["png", "jpg"], ctx) == (["png", "jpg"], None)
    assert check(multi, "png,gif", ctx, TEXT) == (["png", "gif"], None)
    assert check(multi, "png", ctx)[1] == ["Expected a list of choices."]
    assert check(multi, ["png", "bmp"], ctx)[1] == [
        "Unknown choice(s): bmp; allowed: jpg, png, gif."
    ]
    assert check(multi, ["png", "png"], ctx)[1] == ["Each choice may be given once."]
    assert check(multi, [], ctx)[1] == ["Choose at least 1."]
    assert check(multi, ["png", "jpg", "gif"], ctx)[1] == ["Choose at most 2."]


def test_date_format_calendar_and_range(ctx):
    param = DateParam("since", min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 1, 1))
    assert check(param, "2024-02-29", ctx) == ("2024-02-29", None)
    assert check(param, "2023-02-29", ctx)[1] == ["Not a valid calendar date."]
    assert check(param, "01/02/2024", ctx)[1] == ["Expected a date as YYYY-MM-DD."]
    assert check(param, "2019-12-31", ctx)[1] == ["Must be at least 2020-01-01."]


def test_url_scheme_host_and_no_embedded_credentials(ctx):
    param = UrlParam("feed", schemes=("https",))
    assert check(param, "https://example.com/feed.csv", ctx)[1] is None
    assert check(param, "http://example.com", ctx)[1] == ["The URL scheme must be one of: https."]
    assert check(param, "https://", ctx)[1] == ["The URL has no host."]
    assert check(param, "https://user:pw@example.com", ctx)[1] == [
        "Credentials do not belong in a URL; use a named credential."
    ]
    assert check(param, "https://exa mple.com", ctx)[1] == [
        "A URL must not contain spaces or control characters."
    ]
    assert check(param, "https://example.com:99999", ctx)[1] == ["Not a valid URL."]


def test_file_path_is_resolved_inside_the_data_dir(ctx):
    param = FilePathParam("input", extensions=[".csv"])
    assert check(param, "in.csv", ctx) == (str((ctx.data_dir / "in.csv").resolve()), None)
    assert check(param, "missing.csv", ctx)[1] == ["No such file in the data directory."]
    (ctx.data_dir / "in.txt").write_text("x")
    assert check(param, "in.txt", ctx)[1] == ["The file name must end in .csv."]
    output = FilePathParam("out", must_exist=False)
    assert check(output, "new/out.csv", ctx)[0] == str(ctx.data_dir.resolve() / "new" / "out.csv")


def test_every_problem_is_listed_by_parameter_name(ctx):
    params = [
        StringParam("name", required=True),
        IntegerParam("count", min_value=1),
        BooleanParam("flag", default=False),
        DecimalParam("rate", default="1.5"),
    ]
    cleaned, errors = validate_values(
        params,
        {"count": 0, "flag": "yes", "surprise": 1},
        ctx,
        declared_types={"count": "string"},
    )
    assert errors == {
        "surprise": ["Unknown parameter."],
        "count": ["Declared type 'string' does not match the parameter's type 'integer'."],
        "name": ["This parameter is required."],
        "flag": ["Expected a boolean (true or false)."],
    }
    cleaned, errors = validate_values(params, {"name": "x", "count": 2}, ctx)
    assert errors == {}
    assert cleaned == {"name": "x", "count": 2, "flag": False, "rate": "1.5"}


def test_empty_text_means_not_given(ctx):
    params = [IntegerParam("count", default=3), StringParam("note")]
    cleaned, errors = validate_values(
        params, {"count": "", "note": ""}, ValidationContext(ctx.data_dir, TEXT)
    )
    assert errors == {} and cleaned == {"count": 3}


def test_json_schema_describes_every_type():
    schema = json_schema(
        [
            StringParam("s", required=True, max_length=10, pattern="[a-z]+", help="Some text"),
            IntegerParam("i", min_value=0, default=1),
            DecimalParam("d", max_value="9.99"),
            BooleanParam("b", default=True),
            ChoiceParam("c", choices=["x", "y"]),
            MultiChoiceParam("m", choices=["x", "y"]),
            DateParam("t"),
            UrlParam("u"),
            FilePathParam("f", kind="dir", must_exist=False),
        ]
    )
    props = schema["properties"]
    assert schema["required"] == ["s"] and schema["additionalProperties"] is False
    assert props["s"] == {
        "title": "S",
        "type": "string",
        "minLength": 0,
        "maxLength": 10,
        "pattern": "[a-z]+",
        "x-type": "string",
        "description": "Some text",
    }
    assert props["i"]["type"] == "integer" and props["i"]["minimum"] == 0
    assert props["i"]["default"] == 1
    assert props["d"]["format"] == "decimal" and props["d"]["maximum"] == 9.99
    assert props["b"] == {"title": "B", "type": "boolean", "x-type": "boolean", "default": True}
    assert props["c"]["enum"] == ["x", "y"]
    assert props["m"]["type"] == "array" and props["m"]["items"]["enum"] == ["x", "y"]
    assert props["t"]["format"] == "date"
    assert props["u"]["format"] == "uri"
    assert props["f"]["x-path-kind"] == "dir" and props["f"]["x-must-exist"] is False
    assert props["f"]["x-type"] == "directory"


def test_output_parameters_default_into_the_job_folder(ctx, tmp_path):
    params = [
        FilePathParam("input", required=True),
        FilePathParam("kept", extensions=[".csv"], output="kept.csv", help="Kept rows."),
        FilePathParam("report", output="report.csv"),
    ]
    cleaned, errors = validate_values(params, {"input": "in.csv", "report": "mine.csv"}, ctx)
    assert errors == {}
    assert "kept" not in cleaned  # the job's folder exists only in the worker
    job_folder = tmp_path / "script_runs" / "job-1"
    filled = fill_output_defaults(params, cleaned, job_folder)
    assert filled["kept"] == str(job_folder / "kept.csv")
    assert filled["report"] == str(ctx.data_dir.resolve() / "mine.csv")  # given: kept as is
    assert params[1].describe()["help"] == "Kept rows. Default: kept.csv in the job's folder."
    assert params[1].describe()["output_default"] == "kept.csv"
    with pytest.raises(ValueError):
        FilePathParam("out", required=True, output="out.csv")


# -- seed 000, security 3: string parameters are checked for SQL patterns ----------------------

SQL_PAYLOADS = [
    "x' OR '1'='1",
    "DROP TABLE product",
    "admin'--",
    "1 UNION SELECT password FROM core_user",
    "/* hidden */",
]
README = Path(__file__).resolve().parents[1] / "README.md"


def string_parameters():
    """(script, parameter) for every string parameter of every registered script."""
    return [
        (script, param)
        for script in all_scripts()
        for param in script.parameters
        if isinstance(param, StringParam)
    ]


@pytest.mark.parametrize("payload", SQL_PAYLOADS)
def test_every_string_parameter_of_every_script_refuses_sql_patterns(data_dir, payload):
    """Iterates over the registry, so a new script's parameters are covered automatically."""
    checked = []
    for script, param in string_parameters():
        if param.free_text:
            continue
        with pytest.raises(InvalidScriptParameters) as caught:
            validate_script_parameters(script, {param.name: payload})
        messages = caught.value.fields.get(param.name, [])
        assert any("SQL" in message for message in messages), (script.name, param.name, messages)
        checked.append(f"{script.name}.{param.name}")
    assert len(checked) >= 10, checked


def test_free_text_parameters_say_so_and_are_listed_in_the_readme():
    free_text = {
        f"{script.name}.{param.name}" for script, param in string_parameters() if param.free_text
    }
    for script, param in string_parameters():
        if param.free_text:
            assert "free text" in param.help.lower(), (script.name, param.name)
    section = README.read_text().split("### Free-text parameters", 1)[1].split("\n#", 1)[0]
    listed = set(re.findall(r"^- `([a-z_]+\.[a-z_]+)`", section, flags=re.MULTILINE))
    assert listed == free_text


def test_a_free_text_parameter_must_say_so_in_its_help():
    with pytest.raises(ValueError):
        StringParam("note", free_text=True, help="Anything.")
    note = StringParam("note", free_text=True, help="Free text: any wording.")
    context = ValidationContext(data_dir=Path("/"), source=JSON)
    assert note.clean("Apparel > Shoes -- sale; 50% off", context) == (
        "Apparel > Shoes -- sale; 50% off"
    )
    with pytest.raises(ParameterInvalid) as caught:
        note.clean("two\nlines", context)
    assert caught.value.messages == ["Contains control characters, which is not allowed."]
    assert note.describe()["free_text"] is True
