"""`-o table|json|ndjson|csv`: one renderer, data on stdout only, safe CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

from resellctl.cli.output import Format, emit, neutralise

ADMIN = "admin@vendor.example"
ANSI = "\x1b["
SETTINGS = {"trial_days": 21, "approval_base_url": "https://partners.example.com/approve",
            "support_base_url": "https://app.example.com/support", "approval_ttl": "7d",
            "support_session_max_ttl": "8h", "currency": "USD"}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def rendered(data, fmt, **kw) -> str:  # noqa: ANN001
    out = io.StringIO()
    emit(data, fmt, out=out, **kw)
    return out.getvalue()


# --- through the CLI --------------------------------------------------------------------


def test_json_is_an_array_for_a_list(run):
    assert run("user", "create", "ana@partner.example", "--name", "Ana").exit_code == 0
    result = run("user", "list", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert [(u["email"], u["name"], u["is_super_admin"]) for u in result.json] == [
        (ADMIN, "Vendor Admin", True), ("ana@partner.example", "Ana", False)]
    assert set(result.json[0]) == {"email", "name", "is_super_admin", "created_at"}


def test_json_is_an_object_for_one_item(run):
    result = run("settings", "show", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json == SETTINGS
    user = run("user", "show", ADMIN, "-o", "json")
    assert isinstance(user.json, dict)
    assert user.json["email"] == ADMIN


def test_ndjson_is_one_object_per_line(run):
    assert run("user", "create", "ana@partner.example").exit_code == 0
    result = run("user", "list", "-o", "ndjson")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [json.loads(line)["email"] for line in lines] == [ADMIN, "ana@partner.example"]
    single = run("settings", "show", "-o", "ndjson")
    assert [json.loads(line) for line in single.stdout.splitlines()] == [SETTINGS]


def test_csv_has_a_header_row(run):
    result = run("user", "list", "-o", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["email", "name", "is_super_admin", "created_at"]
    assert rows[1][:3] == [ADMIN, "Vendor Admin", "true"]
    assert len(rows) == 2
    settings = list(csv.DictReader(io.StringIO(run("settings", "show", "-o", "csv").stdout)))
    assert settings == [{k: str(v) for k, v in SETTINGS.items()}]


@pytest.mark.parametrize("name", ['=HYPERLINK("x")', "+1+2", "-2+3", "@SUM(A1)"])
def test_csv_neutralises_formula_cells(run, name):
    created = run("user", "create", "ana@partner.example", "--name", name)
    assert created.exit_code == 0, created.stderr
    result = run("user", "list", "-o", "csv")
    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert rows["ana@partner.example"]["name"] == "'" + name
    # The other formats keep the value as it is.
    shown = run("user", "show", "ana@partner.example", "-o", "json")
    assert shown.json["name"] == name


def test_csv_neutralises_formula_like_emails_too(run):
    assert run("user", "create", "=cmd@evil.example").exit_code == 0
    result = run("user", "list", "-o", "csv")
    emails = [r["email"] for r in csv.DictReader(io.StringIO(result.stdout))]
    assert "'=cmd@evil.example" in emails


def test_table_is_plain_text_when_not_a_terminal(run):
    assert run("user", "create", "ana@partner.example", "--name", "Ana").exit_code == 0
    result = run("user", "list")
    assert result.exit_code == 0, result.stderr
    assert ANSI not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Email", "Name", "Is", "super", "admin", "Created", "at"]
    assert lines[1].startswith(ADMIN)
    assert lines[2].startswith("ana@partner.example")
    assert len(lines) == 3
    settings = run("settings", "show")
    assert ANSI not in settings.stdout
    assert "trial_days" in settings.stdout and "21" in settings.stdout


def test_table_is_the_default(run):
    assert run("user", "list").stdout == run("user", "list", "-o", "table").stdout


def test_output_env_var(run):
    result = run("user", "list", env={"RESELLCTL_OUTPUT": "json"})
    assert result.exit_code == 0, result.stderr
    assert result.json[0]["email"] == ADMIN
    # The option wins over the environment.
    csv_out = run("user", "list", "-o", "csv", env={"RESELLCTL_OUTPUT": "json"})
    assert csv_out.stdout.startswith("email,name,is_super_admin,created_at\n")
    ndjson = run("settings", "show", env={"RESELLCTL_OUTPUT": "ndjson"})
    assert json.loads(ndjson.stdout) == SETTINGS


def test_output_format_is_case_insensitive(run):
    assert run("settings", "show", "-o", "JSON").json == SETTINGS


def test_unknown_output_format_is_a_usage_error(run):
    result = run("user", "list", "-o", "yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "yaml" in result.stderr
    from_env = run("user", "list", env={"RESELLCTL_OUTPUT": "yaml"})
    assert from_env.exit_code == 2


@pytest.mark.parametrize("fmt", ["table", "json", "ndjson", "csv"])
def test_errors_go_to_stderr_only(run, fmt):
    result = run("user", "show", "nobody@example.com", "-o", fmt)
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "nobody@example.com" in result.stderr


@pytest.mark.parametrize("fmt", ["table", "json", "ndjson", "csv"])
def test_only_data_on_stdout(run, fmt):
    result = run("user", "create", "ana@partner.example", "-o", fmt)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert "ana@partner.example" in result.stdout


# --- the renderer itself ----------------------------------------------------------------


@pytest.mark.parametrize("value", ['=1+1', "+1", "-1", "@A1", "\tx", "\rx", "=", "-"])
def test_neutralise_prefixes_dangerous_cells(value):
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["plain", "a=b", "1-2", "", " =x", "x@y", "'=x", "\nx"])
def test_neutralise_leaves_safe_cells(value):
    assert neutralise(value) == value


@pytest.mark.parametrize("value", [None, 5, -5, 1.5, True])
def test_neutralise_leaves_non_strings(value):
    assert neutralise(value) is value


def test_csv_rendering_of_awkward_values():
    rows = [{"a": "x,y", "b": 'say "hi"', "c": "two\nlines", "d": None, "e": True,
             "f": {"k": [1, 2]}, "g": "\tcmd", "h": "\rcmd", "i": "mid\rline"},
            {"a": "next", "i": "row"}]
    text = rendered(rows, "csv")
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed == [["a", "b", "c", "d", "e", "f", "g", "h", "i"],
                      ["x,y", 'say "hi"', "two\nlines", "", "true", '{"k":[1,2]}',
                       "'\tcmd", "'\rcmd", "mid\rline"],
                      ["next", "", "", "", "", "", "", "", "row"]]


def test_csv_follows_the_given_columns():
    text = rendered([{"b": 2, "a": 1, "extra": 3}], "csv", columns=["a", "b", "missing"])
    assert text == "a,b,missing\n1,2,\n"


def test_csv_of_an_empty_list_is_just_the_header():
    assert rendered([], "csv", columns=["a", "b"]) == "a,b\n"


def test_csv_streams_from_an_iterator():
    text = rendered(({"n": i} for i in range(3)), "csv")
    assert text == "n\n0\n1\n2\n"


def test_json_shapes():
    assert json.loads(rendered({"a": 1}, "json")) == {"a": 1}
    assert json.loads(rendered([{"a": 1}, {"a": 2}], "json")) == [{"a": 1}, {"a": 2}]
    assert json.loads(rendered([], "json")) == []
    assert json.loads(rendered(iter([{"a": "é"}]), Format.json)) == [{"a": "é"}]
    assert json.loads(rendered([{"a": None, "b": False}], "json")) == [{"a": None, "b": False}]


def test_ndjson_shapes():
    assert rendered([{"a": 1}, {"a": 2}], "ndjson") == '{"a": 1}\n{"a": 2}\n'
    assert rendered({"a": 1}, "ndjson") == '{"a": 1}\n'
    assert rendered([], "ndjson") == ""


def test_plain_table_aligns_columns():
    text = rendered([{"name": "a", "count": 10}, {"name": "long name", "count": 2}], "table")
    assert text == ("Name       Count\n"
                    "a          10\n"
                    "long name  2\n")


def test_plain_table_of_one_item_is_field_value_lines():
    text = rendered({"trial_days": 21, "currency": "USD", "flag": False, "none": None},
                    "table")
    assert [line.split() for line in text.splitlines()] == [
        ["trial_days", "21"], ["currency", "USD"], ["flag", "false"], ["none"]]


def test_plain_table_of_an_empty_list_has_only_headers():
    assert rendered([], "table", columns=["email", "name"]) == "Email  Name\n"


def test_plain_table_uses_given_headers_and_title():
    text = rendered([{"a": 1}], "table", headers={"a": "Alpha"}, title="Things")
    assert text == "Things\nAlpha\n1\n"


def test_terminal_tables_use_rich_and_plain_tables_do_not():
    rows = [{"email": "a@example.com", "n": 1}]
    out = Terminal()
    emit(rows, "table", out=out)
    assert "a@example.com" in out.getvalue()
    assert any(ch in out.getvalue() for ch in "┃│━─")
    assert not any(ch in rendered(rows, "table") for ch in "┃│━─")


def test_many_rows_on_a_terminal_use_the_fast_plain_renderer():
    out = Terminal()
    emit([{"n": i} for i in range(501)], "table", out=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "N"
    assert lines[1:] == [str(i) for i in range(501)]


def test_no_colour_on_a_terminal_with_no_color(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out = Terminal()
    emit([{"status": "active"}], "table", out=out)
    assert "\x1b[3" not in out.getvalue()  # no foreground colour codes
