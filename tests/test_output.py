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


def ok(result):  # noqa: ANN001, ANN201
    assert result.exit_code == 0, result.stderr
    return result


def rendered(data, fmt, **kw) -> str:  # noqa: ANN001
    out = io.StringIO()
    emit(data, fmt, out=out, **kw)
    return out.getvalue()


# --- through the CLI --------------------------------------------------------------------


def test_a_list_in_every_format(run):
    ok(run("user", "create", "ana@partner.example", "--name", "Ana"))
    as_json = ok(run("user", "list", "-o", "json"))
    assert as_json.stderr == ""
    assert [(u["email"], u["name"], u["is_super_admin"]) for u in as_json.json] == [
        (ADMIN, "Vendor Admin", True), ("ana@partner.example", "Ana", False)]
    assert set(as_json.json[0]) == {"email", "name", "is_super_admin", "created_at"}

    ndjson = ok(run("user", "list", "-o", "ndjson"))
    assert [json.loads(line) for line in ndjson.stdout.splitlines()] == as_json.json

    rows = list(csv.reader(io.StringIO(ok(run("user", "list", "-o", "csv")).stdout)))
    assert rows[0] == ["email", "name", "is_super_admin", "created_at"]
    assert rows[1:] == [[u["email"], u["name"], str(u["is_super_admin"]).lower(),
                         u["created_at"]] for u in as_json.json]

    table = ok(run("user", "list"))
    assert ANSI not in table.stdout
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["Email", "Name", "Is", "super", "admin", "Created", "at"]
    assert lines[1].split()[:4] == [ADMIN, "Vendor", "Admin", "true"]
    assert lines[2].split()[:3] == ["ana@partner.example", "Ana", "false"]
    assert len(lines) == 3
    assert ok(run("user", "list", "-o", "table")).stdout == table.stdout  # the default


def test_one_item_in_every_format(run):
    as_json = ok(run("settings", "show", "-o", "json"))
    assert as_json.json == SETTINGS  # one object, not an array
    assert isinstance(ok(run("user", "show", ADMIN, "-o", "json")).json, dict)
    ndjson = ok(run("settings", "show", "-o", "ndjson")).stdout
    assert [json.loads(line) for line in ndjson.splitlines()] == [SETTINGS]
    rows = list(csv.DictReader(io.StringIO(ok(run("settings", "show", "-o", "csv")).stdout)))
    assert rows == [{k: str(v) for k, v in SETTINGS.items()}]
    table = ok(run("settings", "show")).stdout
    assert ANSI not in table
    assert [line.split() for line in table.splitlines()] == [
        [k, str(v)] for k, v in SETTINGS.items()]


FORMULAS = ['=HYPERLINK("x")', "+1+2", "-2+3", "@SUM(A1)"]


def test_csv_neutralises_formula_cells(run):
    for i, name in enumerate(FORMULAS):
        ok(run("user", "create", f"u{i}@partner.example", "--name", name))
    ok(run("user", "create", "=cmd@evil.example"))
    result = ok(run("user", "list", "-o", "csv"))
    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    for i, name in enumerate(FORMULAS):
        assert rows[f"u{i}@partner.example"]["name"] == "'" + name
    assert "'=cmd@evil.example" in rows
    # The other formats keep the value as it is.
    shown = ok(run("user", "list", "-o", "json")).json
    assert {u["name"] for u in shown} >= set(FORMULAS)
    assert "=cmd@evil.example" in {u["email"] for u in shown}


def test_output_env_var_and_option(run):
    result = ok(run("user", "list", env={"RESELLCTL_OUTPUT": "json"}))
    assert result.json[0]["email"] == ADMIN
    # The option wins over the environment.
    csv_out = ok(run("user", "list", "-o", "csv", env={"RESELLCTL_OUTPUT": "json"}))
    assert csv_out.stdout.startswith("email,name,is_super_admin,created_at\n")
    ndjson = ok(run("settings", "show", env={"RESELLCTL_OUTPUT": "ndjson"}))
    assert json.loads(ndjson.stdout) == SETTINGS
    assert ok(run("settings", "show", "-o", "JSON")).json == SETTINGS  # case-insensitive
    assert ok(run("settings", "show", "--output", "json")).json == SETTINGS


def test_unknown_output_format_is_a_usage_error(bare_run):
    result = bare_run("user", "list", "-o", "yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "yaml" in result.stderr
    from_env = bare_run("user", "list", env={"RESELLCTL_OUTPUT": "yaml"})
    assert from_env.exit_code == 2
    assert from_env.stdout == ""


def test_only_data_on_stdout_and_errors_on_stderr(run):
    for i, fmt in enumerate(["table", "json", "ndjson", "csv"]):
        created = ok(run("user", "create", f"u{i}@partner.example", "-o", fmt))
        assert created.stderr == ""
        assert f"u{i}@partner.example" in created.stdout
        failed = run("user", "show", "nobody@example.com", "-o", fmt)
        assert failed.exit_code == 3
        assert failed.stdout == ""
        assert "nobody@example.com" in failed.stderr


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
