"""`client import FILE|-` (CLI.md): formats, validation, all-or-nothing, licences,
--continue-on-error, --dry-run, --on-existing, --errors-out, idempotent re-runs, audit.

Every test runs on SQLite and PostgreSQL (the `run` fixture is parametrised).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from helpers import ok, partner_reseller

ADMIN = "admin@vendor.example"
ANA = "ana@acme.example"
VIC = "vic@acme.example"
NOW = "2026-01-01T00:00:00Z"
COLUMNS = ["name", "owner_name", "owner_email", "owner_phone", "location", "stage", "plan",
           "seats", "support_type", "support_access", "external_id"]
SUMMARY = ("created", "updated", "skipped", "failed")


# ---------------------------------------------------------------- helpers



def counts(summary: dict) -> tuple[int, int, int, int]:
    return tuple(summary[k] for k in SUMMARY)


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row.get(c, "") for c in columns] for row in rows)
    return path


def row(number: int, **cells: str) -> dict:
    return {"name": f"Client {number}", "owner_name": f"Owner {number}",
            "owner_email": f"owner{number}@client{number}.example", **cells}


def import_(run, source: Path | str, *args: str, reseller: str | None = "acme",  # noqa: ANN001, ANN201
            actor: str = "default", input: str | None = None, env: dict | None = None):
    where = ["--reseller", reseller] if reseller else []
    return run("client", "import", str(source), *where, *args, "-o", "json", actor=actor,
               input=input, env=env)


def error_of(result, code: int) -> dict:  # noqa: ANN001
    """The `-o json` error object of a failed command (exit code checked)."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    error = json.loads(result.stderr)["error"]
    assert error["exit_code"] == code
    return error


def clients(run, *args: str) -> list[dict]:  # noqa: ANN001
    return ok(run("client", "list", "--include-deleted", *args, "-o", "json"))


def pool(run, slug: str = "acme") -> tuple[int, int]:  # noqa: ANN001
    data = ok(run("license", "show", slug, "-o", "json"))
    return data["license_count"], data["license_used"]


def events(run, prefix: str = "client.") -> list[dict]:  # noqa: ANN001
    return list(reversed(ok(run("audit", "list", "--action", prefix, "-o", "json"))))


@pytest.fixture
def acme(run):  # noqa: ANN001, ANN201
    """Partner-supported reseller `acme` owned by ana, with 10 licences."""
    return partner_reseller(run, ANA, 10)


def nothing_written(run, licences: tuple[int, int] = (10, 0)) -> None:  # noqa: ANN001
    assert clients(run) == []
    assert pool(run) == licences
    assert events(run) == []


# ---------------------------------------------------------------- formats

def test_only_the_three_required_columns(acme, tmp_path: Path) -> None:  # noqa: ANN001
    source = write_csv(tmp_path / "in.csv", [row(1), row(2), row(3)])
    summary = ok(import_(acme, source, env={"RESELLCTL_NOW": NOW}))
    assert counts(summary) == (3, 0, 0, 0)
    assert summary["dry_run"] is False and summary["errors"] == []
    imported = clients(acme)
    assert [(c["name"], c["owner_name"], c["owner_email"]) for c in imported] == [
        (f"Client {n}", f"Owner {n}", f"owner{n}@client{n}.example") for n in (1, 2, 3)]
    assert {(c["reseller"], c["stage"], c["status"], c["support_type"], c["support_access"],
             c["seats_allocated"], c["plan"], c["external_id"], c["created_at"])
            for c in imported} == {("acme", "lead", "active", "partner", False, 0, None, None,
                                    NOW)}
    assert pool(acme) == (10, 3)
    # one audit event for the whole import, and every client points back at it
    [event] = events(acme)
    assert (event["action"], event["actor"], event["reseller"]) == ("client.import", ADMIN,
                                                                    "acme")
    assert {k: event["changes"][k] for k in SUMMARY} == {"created": 3, "updated": 0,
                                                         "skipped": 0, "failed": 0}
    assert event["entity_id"] == str(summary["import_id"])
    for client in imported:
        shown = ok(acme("client", "show", client["uid"], "-o", "json"))
        assert str(shown["import_id"]) == event["entity_id"]


def test_every_column(acme, tmp_path: Path) -> None:  # noqa: ANN001
    cells = {"name": "Bakery", "owner_name": "Li Wei", "owner_email": "LI@Bakery.Example",
             "owner_phone": "+351 21 000 0000", "location": "Lisbon, PT", "stage": "trial",
             "plan": "business-location", "seats": "12", "support_type": "partner",
             "support_access": "true", "external_id": "CRM-1"}
    vendor = {"name": "Vendor Co", "owner_name": "Vi", "owner_email": "vi@vendor.example",
              "owner_phone": "", "location": "", "stage": "demo", "plan": "", "seats": "0",
              "support_type": "vendor", "support_access": "no", "external_id": "CRM-2"}
    source = write_csv(tmp_path / "all.csv", [cells, vendor], COLUMNS)
    assert counts(ok(import_(acme, source, env={"RESELLCTL_NOW": NOW}))) == (2, 0, 0, 0)
    first, second = clients(acme)
    assert {k: first[k] for k in ("name", "owner_name", "owner_email", "owner_phone",
                                  "location", "stage", "plan", "seats_allocated",
                                  "support_type", "support_access", "external_id",
                                  "trial_ends_at")} == {
        "name": "Bakery", "owner_name": "Li Wei", "owner_email": "li@bakery.example",
        "owner_phone": "+351 21 000 0000", "location": "Lisbon, PT", "stage": "trial",
        "plan": "business-location", "seats_allocated": 12, "support_type": "partner",
        "support_access": True, "external_id": "CRM-1",
        "trial_ends_at": "2026-01-22T00:00:00Z"}
    shown = ok(acme("client", "show", first["uid"], "-o", "json", env={"RESELLCTL_NOW": NOW}))
    assert shown["billing_status"] == "trialing"
    assert (second["owner_phone"], second["location"], second["plan"], second["stage"],
            second["support_type"], second["support_access"], second["trial_ends_at"]) == (
        None, None, None, "demo", "vendor", False, None)


def test_a_spreadsheet_file_imports_as_is(acme, tmp_path: Path) -> None:  # noqa: ANN001
    text = ('name,owner_name,owner_email,location,external_id\r\n'
            '"Smith, Jones & Co",Ann Smith,ann@smith.example,"Unit 4\nHigh Street, Leeds",X-1\r\n'
            '"The ""Best"" Bakery",Bo,bo@best.example,,X-2\r\n'
            'Café Ünïcødé ☕,Zoë,zoe@cafe.example,Zürich,X-3\r\n')
    source = tmp_path / "excel.csv"
    source.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert counts(ok(import_(acme, source))) == (3, 0, 0, 0)
    got = {c["external_id"]: c for c in clients(acme)}
    assert (got["X-1"]["name"], got["X-1"]["location"]) == ("Smith, Jones & Co",
                                                          "Unit 4\nHigh Street, Leeds")
    assert got["X-2"]["name"] == 'The "Best" Bakery' and got["X-2"]["location"] is None
    assert (got["X-3"]["name"], got["X-3"]["owner_name"], got["X-3"]["location"]) == (
        "Café Ünïcødé ☕", "Zoë", "Zürich")

    # row numbers are spreadsheet rows, even after a cell with a line break
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xef\xbb\xbf" + (
        b'name,owner_name,owner_email,location\r\n'
        b'A,Ann,ann@a.example,"two\nlines"\r\n'
        b'B,Bo,bo@b.example,\r\n'
        b'C,Cy,not-an-email,\r\n'))
    error = error_of(import_(acme, bad), 5)
    assert [(d["row"], d["column"]) for d in error["details"]] == [(4, "owner_email")]


def test_json_lines_files_and_stdin(acme, tmp_path: Path) -> None:  # noqa: ANN001
    lines = [{"name": "Json One", "owner_name": "J1", "owner_email": "j1@json.example",
              "seats": 4, "support_access": True, "external_id": "J-1"},
             {"name": "Json Two", "owner_name": "J2", "owner_email": "j2@json.example",
              "stage": "demo", "owner_phone": None}]
    ndjson = tmp_path / "clients.ndjson"
    ndjson.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    assert counts(ok(import_(acme, ndjson))) == (2, 0, 0, 0)
    jsonl = tmp_path / "more.JSONL"
    jsonl.write_text(json.dumps({"name": "Jsonl", "owner_name": "L",
                                 "owner_email": "l@jsonl.example"}) + "\n\n",
                     encoding="utf-8")
    assert counts(ok(import_(acme, jsonl))) == (1, 0, 0, 0)
    piped_csv = "name,owner_name,owner_email\nPiped Csv,P,p@csv.example\n"
    assert counts(ok(import_(acme, "-", input=piped_csv))) == (1, 0, 0, 0)
    piped_json = json.dumps({"name": "Piped Json", "owner_name": "Q",
                             "owner_email": "q@json.example", "stage": "trial"}) + "\n"
    assert counts(ok(import_(acme, "-", input=piped_json))) == (1, 0, 0, 0)
    got = {c["name"]: c for c in clients(acme)}
    assert sorted(got) == ["Json One", "Json Two", "Jsonl", "Piped Csv", "Piped Json"]
    assert (got["Json One"]["seats_allocated"], got["Json One"]["support_access"],
            got["Json One"]["external_id"]) == (4, True, "J-1")
    assert got["Json Two"]["stage"] == "demo" and got["Piped Json"]["stage"] == "trial"
    assert pool(acme) == (10, 5)
    assert [e["action"] for e in events(acme)] == ["client.import"] * 4

    # a bad JSON line is a row error like any other
    broken = tmp_path / "broken.ndjson"
    broken.write_text(json.dumps(lines[0] | {"external_id": "J-9"}) + "\n{nope\n"
                      + json.dumps({"name": "X", "owner_name": "Y", "owner_email": "z@z.example",
                                    "colour": "red"}) + "\n", encoding="utf-8")
    error = error_of(import_(acme, broken), 5)
    assert [d["row"] for d in error["details"]] == [2, 3]
    assert pool(acme) == (10, 5)


# ---------------------------------------------------------------- refusals

def test_a_bad_header_is_refused(acme, tmp_path: Path) -> None:  # noqa: ANN001
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("name,owner_name,owner_email,email\nA,B,c@d.example,x\n",
                       encoding="utf-8")
    assert "email" in error_of(import_(acme, unknown), 5)["message"]
    missing = tmp_path / "missing.csv"
    missing.write_text("name,owner_name,location\nA,B,Here\n", encoding="utf-8")
    assert "owner_email" in error_of(import_(acme, missing), 5)["message"]
    text = acme("client", "import", str(missing), "--reseller", "acme")
    assert text.exit_code == 5 and text.stdout == ""
    assert text.stderr.startswith("Error: ") and "owner_email" in text.stderr
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    error_of(import_(acme, empty), 5)
    error_of(import_(acme, tmp_path / "no-such-file.csv"), 5)
    nothing_written(acme)


def test_any_invalid_row_lists_every_error_and_writes_nothing(acme, tmp_path: Path) -> None:  # noqa: ANN001
    rows = [row(2),                                          # row 2: fine
            row(3, owner_email="not-an-email"),
            row(4, owner_phone="123"),
            row(5),                                          # row 5: fine
            row(6, stage="active"),
            row(7, seats="-3"),
            row(8, name="   "),
            row(9, plan="no-such-plan"),
            row(10, support_access="maybe"),
            row(11, name="n" * 201)]
    source = write_csv(tmp_path / "in.csv", rows, COLUMNS)
    expected = [(3, "owner_email"), (4, "owner_phone"), (6, "stage"), (7, "seats"),
                (8, "name"), (9, "plan"), (10, "support_access"), (11, "name")]

    result = acme("client", "import", str(source), "--reseller", "acme")
    assert result.exit_code == 5 and result.stdout == ""
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    for number, column in expected:
        assert any(f"row {number}" in line and column in line for line in lines), (
            number, column, result.stderr)
    assert not any("row 2" in line or "row 5" in line for line in lines)

    error = error_of(import_(acme, source), 5)
    assert [(d["row"], d["column"]) for d in error["details"]] == expected
    assert all(d["message"] for d in error["details"])
    assert error["code"] and "8" in error["message"]
    nothing_written(acme)

    # a row with the wrong number of cells is an error with its row number too
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("name,owner_name,owner_email\nA,B,a@b.example\nC,D\n", encoding="utf-8")
    assert [d["row"] for d in error_of(import_(acme, ragged), 5)["details"]] == [3]
    nothing_written(acme)


def test_not_enough_licences_writes_nothing(acme, tmp_path: Path) -> None:  # noqa: ANN001
    ok(acme("license", "revoke", "acme", "8", "-o", "json"))
    source = write_csv(tmp_path / "in.csv", [row(n) for n in range(3)])
    error = error_of(import_(acme, source), 7)
    assert "licen" in error["message"]
    nothing_written(acme, (2, 0))
    # a dry run finds the same shortage
    error_of(import_(acme, source, "--dry-run"), 7)
    # with --continue-on-error what fits is written, the rest fails: exit 9
    result = import_(acme, source, "--continue-on-error")
    assert result.exit_code == 9
    summary = json.loads(result.stdout)
    assert counts(summary) == (2, 0, 0, 1)
    assert [d["row"] for d in summary["errors"]] == [4]
    assert json.loads(result.stderr)["error"]["exit_code"] == 9
    assert [c["name"] for c in clients(acme)] == ["Client 0", "Client 1"]
    assert pool(acme) == (2, 2)


def test_permissions_and_reseller_state(acme, tmp_path: Path) -> None:  # noqa: ANN001
    ok(acme("user", "create", VIC, "-o", "json"))
    ok(acme("reseller", "member", "add", "acme", VIC, "--role", "viewer", "-o", "json"))
    ok(acme("user", "create", "zed@beta.example", "-o", "json"))
    ok(acme("reseller", "create", "--slug", "beta", "--name", "Beta",
            "--owner", "zed@beta.example", "--licenses", "5", "-o", "json"))
    source = write_csv(tmp_path / "in.csv", [row(1)])
    error_of(import_(acme, source, actor=VIC), 6)
    error_of(import_(acme, source, reseller="beta", actor=ANA), 3)
    error_of(import_(acme, source, reseller=None, actor=ANA), 6)
    ok(acme("reseller", "deactivate", "acme", "-o", "json"))
    error_of(import_(acme, source), 4)
    nothing_written(acme)
    # a super admin may import direct clients
    summary = ok(import_(acme, source, reseller=None))
    assert counts(summary) == (1, 0, 0, 0) and summary["reseller"] is None
    assert [c["reseller"] for c in clients(acme)] == [None]
    # and a reseller admin into their own reseller
    ok(acme("reseller", "activate", "acme", "-o", "json"))
    assert counts(ok(import_(acme, source, actor=ANA))) == (1, 0, 0, 0)
    assert pool(acme) == (10, 1)


# ---------------------------------------------------------------- partial, dry run

def test_continue_on_error_writes_the_valid_rows_and_exits_9(acme, tmp_path: Path) -> None:  # noqa: ANN001
    rows = [row(2), row(3, owner_email="bad"), row(4), row(5, seats="many")]
    source = write_csv(tmp_path / "in.csv", rows, COLUMNS)
    result = import_(acme, source, "--continue-on-error")
    assert result.exit_code == 9
    summary = json.loads(result.stdout)
    assert counts(summary) == (2, 0, 0, 2)
    assert [(d["row"], d["column"]) for d in summary["errors"]] == [(3, "owner_email"),
                                                                    (5, "seats")]
    assert json.loads(result.stderr)["error"]["exit_code"] == 9
    assert [c["name"] for c in clients(acme)] == ["Client 2", "Client 4"]
    assert pool(acme) == (10, 2)
    [event] = events(acme)
    assert {k: event["changes"][k] for k in SUMMARY} == {"created": 2, "updated": 0,
                                                         "skipped": 0, "failed": 2}
    # as text: the summary on stdout, the errors on stderr
    again = write_csv(tmp_path / "again.csv", [row(6), row(7, owner_email="bad")])
    text = acme("client", "import", str(again), "--reseller", "acme", "--continue-on-error")
    assert text.exit_code == 9
    assert "Created" in text.stdout and "row 3" not in text.stdout
    assert text.stderr.startswith("Error: ") and "row 3" in text.stderr
    assert pool(acme) == (10, 3)


def test_dry_run_writes_nothing_but_reports(acme, tmp_path: Path) -> None:  # noqa: ANN001
    ok(import_(acme, write_csv(tmp_path / "seed.csv", [row(1, external_id="E-1")])))
    before = (clients(acme), pool(acme), events(acme))
    source = write_csv(tmp_path / "in.csv", [row(1, external_id="E-1", seats="3"),
                                             row(2, external_id="E-2"), row(3)])
    summary = ok(import_(acme, source, "--dry-run", "--on-existing", "update"))
    assert counts(summary) == (2, 1, 0, 0) and summary["dry_run"] is True
    assert (clients(acme), pool(acme), events(acme)) == before
    summary = ok(import_(acme, source, "--dry-run", "--on-existing", "skip"))
    assert counts(summary) == (2, 0, 1, 0)
    bad = write_csv(tmp_path / "bad.csv", [row(2), row(3, owner_email="x")])
    assert [d["row"] for d in error_of(import_(acme, bad, "--dry-run"), 5)["details"]] == [3]
    assert (clients(acme), pool(acme), events(acme)) == before


# ---------------------------------------------------------------- existing clients

@pytest.fixture
def seeded(acme, tmp_path: Path):  # noqa: ANN001, ANN201
    """Two clients imported with external ids E-1 (lead, Porto, 5 seats) and E-2."""
    seed = write_csv(tmp_path / "seed.csv", [
        row(1, external_id="E-1", location="Porto", seats="5", owner_phone="+351 220 000 000"),
        row(2, external_id="E-2", stage="trial")], COLUMNS)
    assert counts(ok(import_(acme, seed))) == (2, 0, 0, 0)
    return acme


def test_on_existing_defaults_to_error(seeded, tmp_path: Path) -> None:  # noqa: ANN001
    source = write_csv(tmp_path / "in.csv", [row(3, external_id="E-3"),
                                             row(1, external_id="E-1", name="Renamed")])
    error = error_of(import_(seeded, source), 5)
    assert [(d["row"], d["column"]) for d in error["details"]] == [(3, "external_id")]
    assert "E-1" in error["details"][0]["message"]
    error_of(import_(seeded, source, "--on-existing", "merge"), 5)
    assert sorted(c["external_id"] for c in clients(seeded)) == ["E-1", "E-2"]
    assert pool(seeded) == (10, 2)


def test_on_existing_skip_and_update(seeded, tmp_path: Path) -> None:  # noqa: ANN001
    first = {c["external_id"]: c for c in clients(seeded)}
    source = write_csv(tmp_path / "in.csv", [
        {**row(1, external_id="E-1"), "name": "Renamed One", "seats": "9", "location": ""},
        row(3, external_id="E-3")], COLUMNS)
    assert counts(ok(import_(seeded, source, "--on-existing", "skip"))) == (1, 0, 1, 0)
    assert {c["external_id"]: c["name"] for c in clients(seeded)} == {
        "E-1": "Client 1", "E-2": "Client 2", "E-3": "Client 3"}
    assert pool(seeded) == (10, 3)

    summary = ok(import_(seeded, source, "--on-existing", "update"))
    assert counts(summary) == (0, 1, 1, 0)  # E-3's row changes nothing: skipped
    after = {c["external_id"]: c for c in clients(seeded)}
    one = after["E-1"]
    assert one["uid"] == first["E-1"]["uid"]
    assert (one["name"], one["seats_allocated"]) == ("Renamed One", 9)
    # empty cells keep the client's values
    assert (one["location"], one["owner_phone"], one["stage"]) == ("Porto", "+351 220 000 000",
                                                                   "lead")
    assert after["E-2"] == first["E-2"]
    assert pool(seeded) == (10, 3)
    imports = [e for e in events(seeded) if e["entity_type"] == "import"]
    assert len(imports) == 3
    assert counts(imports[-1]["changes"]) == (0, 1, 1, 0)
    # the updated client has its own event: what changed, and which import changed it
    [edit] = [e for e in events(seeded) if e["entity_type"] == "client"]
    assert (edit["action"], edit["entity_id"]) == ("client.import", one["uid"])
    assert edit["changes"] == {"before": {"name": "Client 1", "seats_allocated": 5},
                               "after": {"name": "Renamed One", "seats_allocated": 9},
                               "import_id": summary["import_id"]}


def test_update_rows_obey_the_stage_machine(seeded, tmp_path: Path) -> None:  # noqa: ANN001
    # E-1 is a lead, E-2 a trial: lead -> active is allowed, trial -> lead is not
    moves = write_csv(tmp_path / "moves.csv", [row(1, external_id="E-1", stage="active"),
                                               row(2, external_id="E-2", stage="lead")])
    error = error_of(import_(seeded, moves, "--on-existing", "update"), 5)
    assert [(d["row"], d["column"]) for d in error["details"]] == [(3, "stage")]
    assert {c["external_id"]: c["stage"] for c in clients(seeded)} == {"E-1": "lead",
                                                                       "E-2": "trial"}
    result = import_(seeded, moves, "--on-existing", "update", "--continue-on-error")
    assert result.exit_code == 9
    assert counts(json.loads(result.stdout)) == (0, 1, 0, 1)
    assert {c["external_id"]: c["stage"] for c in clients(seeded)} == {"E-1": "active",
                                                                       "E-2": "trial"}


def test_update_rows_keep_support_access_partner_only(acme, tmp_path: Path) -> None:  # noqa: ANN001
    seed = write_csv(tmp_path / "seed.csv", [row(1, external_id="V", support_type="vendor"),
                                             row(2, external_id="P", support_access="true")],
                     COLUMNS)
    assert counts(ok(import_(acme, seed))) == (2, 0, 0, 0)

    def support() -> dict:
        return {c["external_id"]: (c["support_type"], c["support_access"])
                for c in clients(acme)}

    assert support() == {"V": ("vendor", False), "P": ("partner", True)}
    # access on for a vendor client is refused, as in `client edit`
    access = write_csv(tmp_path / "access.csv", [row(1, external_id="V", support_access="true")],
                       COLUMNS)
    error = error_of(import_(acme, access, "--on-existing", "update"), 5)
    assert [(d["row"], d["column"]) for d in error["details"]] == [(2, "support_access")]
    # a partner client made vendor loses its access
    vendor = write_csv(tmp_path / "vendor.csv", [row(2, external_id="P", support_type="vendor")],
                       COLUMNS)
    assert counts(ok(import_(acme, vendor, "--on-existing", "update"))) == (0, 1, 0, 0)
    assert support() == {"V": ("vendor", False), "P": ("vendor", False)}
    both = write_csv(tmp_path / "both.csv", [
        row(1, external_id="V", support_type="partner", support_access="yes")], COLUMNS)
    assert counts(ok(import_(acme, both, "--on-existing", "update"))) == (0, 1, 0, 0)
    assert support() == {"V": ("partner", True), "P": ("vendor", False)}


def test_a_repeated_external_id_in_one_file_names_both_rows(acme, tmp_path: Path) -> None:  # noqa: ANN001
    source = write_csv(tmp_path / "in.csv", [row(1, external_id="DUP"), row(2),
                                             row(3, external_id="DUP")])
    [detail] = error_of(import_(acme, source), 5)["details"]
    assert (detail["row"], detail["column"]) == (4, "external_id")
    assert re.search(r"\b2\b", detail["message"]) and "DUP" in detail["message"]
    nothing_written(acme)


def test_errors_out_can_be_fixed_and_imported_again(acme, tmp_path: Path) -> None:  # noqa: ANN001
    source = write_csv(tmp_path / "in.csv", [
        row(1, external_id="E-1"), row(2, external_id="E-2", owner_email="nope"),
        {**row(3, external_id="E-3"), "name": "Three, with comma", "seats": "-1"}], COLUMNS)
    errors_out = tmp_path / "out" / "failed.csv"
    result = import_(acme, source, "--continue-on-error", "--errors-out", str(errors_out))
    assert result.exit_code == 9
    assert counts(json.loads(result.stdout)) == (1, 0, 0, 2)
    with errors_out.open(encoding="utf-8", newline="") as handle:
        failed = list(csv.DictReader(handle))
    assert [(r["external_id"], r["owner_email"], r["name"], r["seats"]) for r in failed] == [
        ("E-2", "nope", "Client 2", ""), ("E-3", "owner3@client3.example",
                                          "Three, with comma", "-1")]
    assert "row 3" in failed[0]["error"] and "owner_email" in failed[0]["error"]
    assert "row 4" in failed[1]["error"] and "seats" in failed[1]["error"]

    # fix the cells in place and import the same file again, error column and all
    failed[0]["owner_email"] = "two@client2.example"
    failed[1]["seats"] = "1"
    with errors_out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(failed[0]))
        writer.writeheader()
        writer.writerows(failed)
    assert counts(ok(import_(acme, errors_out))) == (2, 0, 0, 0)
    got = {c["external_id"]: c for c in clients(acme)}
    assert sorted(got) == ["E-1", "E-2", "E-3"]
    assert got["E-2"]["owner_email"] == "two@client2.example"
    assert (got["E-3"]["name"], got["E-3"]["seats_allocated"]) == ("Three, with comma", 1)
    assert pool(acme) == (10, 3)

    # with nothing failing, no errors file is written
    # a clean run leaves the errors file with its header only, even over an old one
    clean = tmp_path / "clean-errors.csv"
    clean.write_text("stale\n")
    ok(import_(acme, write_csv(tmp_path / "ok.csv", [row(9)]), "--errors-out", str(clean)))
    assert clean.read_text() == ",".join([*COLUMNS, "error"]) + "\n"


def test_running_the_same_import_again_with_skip_is_a_no_op(acme, tmp_path: Path) -> None:  # noqa: ANN001
    source = write_csv(tmp_path / "in.csv", [row(n, external_id=f"E-{n}") for n in range(6)])
    assert counts(ok(import_(acme, source, "--on-existing", "skip"))) == (6, 0, 0, 0)
    before = clients(acme)
    assert counts(ok(import_(acme, source, "--on-existing", "skip"))) == (0, 0, 6, 0)
    assert clients(acme) == before
    assert pool(acme) == (10, 6)
    assert [counts(e["changes"]) for e in events(acme)] == [(6, 0, 0, 0), (0, 0, 6, 0)]


def test_a_row_with_several_bad_cells_lists_each_of_them(acme, tmp_path: Path) -> None:  # noqa: ANN001
    rows = [row(2, owner_email="nope", owner_phone="12", seats="x"), row(3)]
    source = write_csv(tmp_path / "in.csv", rows, COLUMNS)
    error = error_of(import_(acme, source), 5)
    assert [(d["row"], d["column"]) for d in error["details"]] == [
        (2, "owner_email"), (2, "owner_phone"), (2, "seats")]
    assert "1 row(s)" in error["message"]

    out = tmp_path / "bad.csv"
    acme("client", "import", str(source), "--reseller", "acme", "--errors-out", str(out))
    with out.open(encoding="utf-8", newline="") as handle:
        failed = list(csv.DictReader(handle))
    assert len(failed) == 1
    assert all(col in failed[0]["error"] for col in ("owner_email", "owner_phone", "seats"))
    nothing_written(acme)


def test_row_numbers_count_blank_lines_before_the_header(acme, tmp_path: Path) -> None:  # noqa: ANN001
    source = tmp_path / "in.csv"
    source.write_text("\n\nname,owner_name,owner_email\nA,B,a@b.example\nC,D,bad\n",
                      encoding="utf-8")
    assert [d["row"] for d in error_of(import_(acme, source), 5)["details"]] == [5]


def test_json_lines_on_stdin_with_a_byte_order_mark(acme) -> None:  # noqa: ANN001
    line = json.dumps(row(1, external_id="J1"))
    assert counts(ok(import_(acme, "-", input="\ufeff" + line + "\n"))) == (1, 0, 0, 0)


def test_json_lines_reject_a_boolean_seat_count(acme, tmp_path: Path) -> None:  # noqa: ANN001
    source = tmp_path / "in.ndjson"
    source.write_text(json.dumps({**row(1), "seats": True}) + "\n", encoding="utf-8")
    details = error_of(import_(acme, source), 5)["details"]
    assert [(d["row"], d["column"]) for d in details] == [(1, "seats")]


def test_json_lines_with_non_text_values_fail_as_rows_not_as_bugs(acme, tmp_path: Path) -> None:  # noqa: ANN001
    source = tmp_path / "in.ndjson"
    source.write_text(json.dumps({**row(1), "owner_email": 1, "owner_phone": 123}) + "\n"
                      + json.dumps({**row(2), "location": 0}) + "\n", encoding="utf-8")
    details = error_of(import_(acme, source), 5)["details"]
    assert [(d["row"], d["column"]) for d in details] == [(1, "owner_email"),
                                                          (1, "owner_phone")]
