"""`-o table|json|ndjson|csv`: one renderer, data on stdout only, safe CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

from resellctl.cli.output import Format, emit, neutralise

ADMIN = "admin@vendor.example"
ANSI = "\x1b["
SETTINGS = {"trial_days": 21, "approval_base_url": "http://127.0.0.1:8600/approve",
            "support_base_url": "http://127.0.0.1:8600/support", "approval_ttl": "7d",
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
    assert lines[0].split() == ["E-mail", "Name", "Super", "Created"]
    assert lines[1].split() == ["admin"]
    assert lines[2].split()[:4] == [ADMIN, "Vendor", "Admin", "yes"]
    assert lines[3].split()[:3] == ["ana@partner.example", "Ana", "no"]
    assert len(lines) == 4
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


def test_plain_table_aligns_columns_and_numbers_to_the_right():
    text = rendered([{"name": "a", "count": 10}, {"name": "long name", "count": 12345}],
                    "table")
    assert text == ("Name        Count\n"
                    "a              10\n"
                    "long name  12,345\n")


def test_plain_table_of_one_item_is_label_value_lines():
    text = rendered({"trial_days": 21, "currency": "USD", "is_flag": False, "none": None,
                     "balance_cents": -123456, "support_access": True,
                     "created_at": "2026-01-02T03:04:05Z"}, "table")
    assert text.splitlines() == [
        "Trial days      21", "Currency        USD", "Flag            no", "None",
        "Balance         -$1,234.56", "Support access  On",
        "Created         2026-01-02 03:04:05 UTC"]


def test_plain_table_of_an_empty_list_has_only_headers():
    assert rendered([], "table", columns=["email", "name"]) == "E-mail  Name\n"


def test_plain_table_uses_given_headers_and_title():
    text = rendered([{"a": 1}], "table", headers={"a": "Alpha"}, title="Things")
    assert text == "Things\nAlpha\n    1\n"


@pytest.mark.parametrize(("cents", "currency", "shown"), [
    (123450, "USD", "$1,234.50"), (-500, "USD", "-$5.00"), (0, "EUR", "€0.00"),
    (1200, "CHF", "CHF 12.00"), (-99, "CHF", "-CHF 0.99"), (100_000_000, "GBP", "£1,000,000.00")])
def test_amounts_in_their_currency(cents, currency, shown):
    assert rendered([{"amount_cents": cents, "currency": currency}], "table",
                    table=["amount_cents"]).splitlines()[1].strip() == shown
    assert rendered([{"amount_cents": cents}], "table", currency=currency
                    ).splitlines()[1].strip() == shown


def test_no_borders_and_no_colour_off_a_terminal_or_under_no_color(monkeypatch):
    rows = [{"email": "a@example.com", "n": 1}]
    for text in (rendered(rows, "table"), _on_terminal(rows, monkeypatch, 80)):
        assert "a@example.com" in text
        assert not any(ch in text for ch in "┃│━─") and ANSI not in text
    monkeypatch.delenv("NO_COLOR")
    out = Terminal()
    emit(rows, "table", out=out)
    assert out.getvalue().startswith("\x1b[1mE-mail") and "a@example.com" in out.getvalue()


def _on_terminal(rows, monkeypatch, columns: int, **kw) -> str:  # noqa: ANN001
    monkeypatch.setenv("COLUMNS", str(columns))
    out = Terminal()
    emit(rows, "table", out=out, **kw)
    return out.getvalue()


def test_a_narrow_terminal_shortens_text_and_keeps_identifiers(monkeypatch):
    from resellctl.cli.output import Col

    rows = [{"uid": "cl_0123456789abcdef0123", "name": "A very long company name indeed",
             "note": "something rather long to say about it", "owner_email": "x@y.example"}]
    text = _on_terminal(rows, monkeypatch, 60)
    assert max(len(line) for line in text.splitlines()) <= 60
    assert "cl_0123456789abcdef0123" in text and "x@y.example" in text
    assert "…" in text
    # an optional column goes before text gets shorter than its floor
    table = ["uid", "name", "owner_email", Col("note", optional=True)]
    narrow = _on_terminal(rows, monkeypatch, 50, table=table)
    assert "Note" not in narrow and max(len(line) for line in narrow.splitlines()) <= 50
    # off a terminal nothing is cut
    assert "A very long company name indeed" in rendered(rows, "table")


def test_many_rows_render_in_one_pass(monkeypatch):
    lines = _on_terminal([{"n": i} for i in range(501)], monkeypatch, 80).splitlines()
    assert lines[0].strip() == "N"
    assert [int(line) for line in lines[1:]] == list(range(501))
