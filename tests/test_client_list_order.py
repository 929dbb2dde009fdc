"""`client list`: capped --limit/--offset, the sort order (identical on SQLite and
PostgreSQL: text case-insensitively, empty values last) and the "N more" line on a
terminal (docs/rules.md, Clients).

Every test runs on SQLite and PostgreSQL (the `run` fixture is parametrised).
"""

from __future__ import annotations

import csv
import io

import pytest
from helpers import ok

from resellctl.cli import client as client_cli
from resellctl.cli.options import MAX_ROWS

HUGE = "99999999999999999999"  # over 2**64


def create(run, name: str, *args: str, env: dict | None = None) -> str:  # noqa: ANN001
    """A direct client (the super admin needs no reseller); returns its uid."""
    return ok(run("client", "create", "--name", name, "--owner-name", "Owner",
                  "--owner-email", "owner@client.example", *args, "-o", "json",
                  env=env))["uid"]


def listed(run, *args: str, key: str = "name") -> list:  # noqa: ANN001
    return [c[key] for c in ok(run("client", "list", *args, "-o", "json"))]


def exported(run, *args: str, key: str = "name") -> list:  # noqa: ANN001
    """The same list through the CSV export (COPY on PostgreSQL, the raw cursor on SQLite)."""
    result = run("client", "list", *args, "-o", "csv")
    assert result.exit_code == 0 and result.stderr == "", result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    return [row[key] or None for row in rows]


def usage_error(result, option: str) -> None:  # noqa: ANN001
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "internal" not in result.stderr.lower()
    assert option in result.stderr and str(MAX_ROWS) in result.stderr, result.stderr


# ---------------------------------------------------------------- --limit / --offset caps

@pytest.mark.parametrize("output", ["table", "json", "csv"])
def test_a_huge_limit_or_offset_is_a_usage_error(run, output) -> None:  # noqa: ANN001
    create(run, "Bakery")
    for option in ("--limit", "--offset"):
        for value in (HUGE, str(2**63), str(MAX_ROWS + 1)):
            usage_error(run("client", "list", option, value, "-o", output), option)


def test_the_caps_themselves_are_accepted_by_both_stores(run) -> None:  # noqa: ANN001
    create(run, "Bakery")
    assert listed(run, "--limit", str(MAX_ROWS)) == ["Bakery"]
    assert listed(run, "--offset", str(MAX_ROWS)) == []
    assert listed(run, "--limit", str(MAX_ROWS), "--offset", str(MAX_ROWS)) == []
    assert exported(run, "--limit", str(MAX_ROWS), "--offset", str(MAX_ROWS)) == []


@pytest.mark.parametrize("command", [("audit", "list"),
                                     ("reseller", "balance", "history", "acme")])
def test_every_other_limit_is_capped_too(run, command) -> None:  # noqa: ANN001
    ok(run("user", "create", "ana@acme.example", "-o", "json"))
    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner",
           "ana@acme.example", "-o", "json"))
    result = run(*command, "--limit", HUGE, "-o", "json")
    assert result.exit_code == 2 and result.stdout == "", result.stderr
    assert "--limit" in result.stderr and "Traceback" not in result.stderr
    assert run(*command, "--limit", "100000", "-o", "json").exit_code == 0


# ---------------------------------------------------------------- sort order

def test_name_sorts_case_insensitively_the_same_on_both_stores(run) -> None:  # noqa: ANN001
    """A-Z fold to a-z, nothing else does; then the exact name, byte order (upper case
    first); then the id. `_` (0x5F) comes before the letters, non-ASCII after them."""
    uids = {}
    for name in ("Zed", "Banana", "émile", "apple", "_x", "Zed", "Émile", "Apple"):
        uids.setdefault(name, []).append(create(run, name))
    ascending = ["_x", "Apple", "apple", "Banana", "Zed", "Zed", "Émile", "émile"]
    assert listed(run) == ascending  # name is the default sort
    assert listed(run, "--sort", "name") == ascending
    assert exported(run) == ascending
    descending = ["émile", "Émile", "Zed", "Zed", "Banana", "apple", "Apple", "_x"]
    assert listed(run, "--sort", "-name") == descending
    assert exported(run, "--sort", "-name") == descending
    # Equal names: the id, ascending, in both directions.
    zeds = [uid for uid, name in zip(listed(run, key="uid"), ascending, strict=True)
            if name == "Zed"]
    assert zeds == uids["Zed"]
    zeds = [uid for uid, name in zip(listed(run, "--sort", "-name", key="uid"), descending,
                                     strict=True) if name == "Zed"]
    assert zeds == uids["Zed"]
    # A page is a slice of that order.
    assert listed(run, "--limit", "3", "--offset", "2") == ["apple", "Banana", "Zed"]


def test_empty_trial_ends_sort_last_in_both_directions(run) -> None:  # noqa: ANN001
    create(run, "Lead A")
    create(run, "Later trial", "--stage", "trial", env={"RESELLCTL_NOW": "2026-01-02T00:00:00Z"})
    create(run, "Lead B")
    create(run, "Early trial", "--stage", "trial", env={"RESELLCTL_NOW": "2026-01-01T00:00:00Z"})
    create(run, "Lead C")
    ascending = ["Early trial", "Later trial", "Lead A", "Lead B", "Lead C"]
    descending = ["Later trial", "Early trial", "Lead A", "Lead B", "Lead C"]
    assert listed(run, "--sort", "trial_ends_at") == ascending
    assert exported(run, "--sort", "trial_ends_at") == ascending
    assert listed(run, "--sort", "-trial_ends_at") == descending
    assert exported(run, "--sort", "-trial_ends_at") == descending
    assert listed(run, "--sort", "trial_ends_at", "--limit", "2", "--offset", "1") == [
        "Later trial", "Lead A"]


def test_external_ids_sort_case_insensitively_empty_ones_last(run) -> None:  # noqa: ANN001
    create(run, "No id 1")
    create(run, "b", "--external-id", "crm-b")
    create(run, "A", "--external-id", "CRM-A")
    create(run, "No id 2")
    create(run, "c", "--external-id", "CRM-c")
    assert listed(run, "--sort", "external_id", key="external_id") == [
        "CRM-A", "crm-b", "CRM-c", None, None]
    assert listed(run, "--sort", "-external_id") == ["c", "b", "A", "No id 1", "No id 2"]
    assert exported(run, "--sort", "-external_id") == ["c", "b", "A", "No id 1", "No id 2"]


# ---------------------------------------------------------------- "N more" on a terminal

@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_cli, "is_terminal", lambda stream=None: True)


@pytest.fixture
def seven(run):  # noqa: ANN001, ANN201
    """Seven direct clients, C1 ... C7; returns run and their uids in name order."""
    return run, [create(run, f"C{i}") for i in range(1, 8)]


def shown(result, uids: list[str]) -> list[str]:  # noqa: ANN001
    assert result.exit_code == 0, result.stderr
    return [uid for uid in uids if uid in result.stdout]


@pytest.mark.usefixtures("terminal")
def test_limit_on_a_terminal_says_how_many_more(seven) -> None:  # noqa: ANN001
    run, uids = seven
    page = run("client", "list", "--limit", "3")
    assert shown(page, uids) == uids[:3]
    assert page.stderr == "… 4 more of 7: use --offset 3, --limit N, or -o csv\n"
    page = run("client", "list", "--limit", "3", "--offset", "3")
    assert shown(page, uids) == uids[3:6]
    assert page.stderr == "… 1 more of 7: use --offset 6, --limit N, or -o csv\n"
    for last in (("--limit", "3", "--offset", "4"), ("--limit", "7"), ("--limit", "9"),
                 ("--offset", "10", "--limit", "2")):
        page = run("client", "list", *last)
        assert page.exit_code == 0 and page.stderr == "", (last, page.stderr)


@pytest.mark.usefixtures("terminal")
def test_the_default_page_still_says_how_many_more(seven, monkeypatch) -> None:  # noqa: ANN001
    run, uids = seven
    monkeypatch.setattr(client_cli, "PAGE", 5)
    page = run("client", "list")
    assert shown(page, uids) == uids[:5]
    assert page.stderr == "… 2 more of 7: use --offset 5, --limit N, or -o csv\n"
    page = run("client", "list", "--offset", "5")
    assert shown(page, uids) == uids[5:] and page.stderr == ""


@pytest.mark.parametrize("output", ["json", "ndjson", "csv"])
@pytest.mark.usefixtures("terminal")
def test_other_formats_on_a_terminal_add_nothing(seven, output) -> None:  # noqa: ANN001
    run, uids = seven
    result = run("client", "list", "--limit", "3", "-o", output)
    assert result.exit_code == 0 and result.stderr == ""
    assert shown(result, uids) == uids[:3]
    assert "more" not in result.stdout


def test_off_a_terminal_a_table_adds_nothing(seven) -> None:  # noqa: ANN001
    run, uids = seven
    result = run("client", "list", "--limit", "3")
    assert shown(result, uids) == uids[:3]
    assert result.stderr == "" and "more" not in result.stdout
