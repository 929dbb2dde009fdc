"""Fixes, both stores: whole lists in json/ndjson/csv (audit list, balance history),
`audit list --reseller` of an unknown or hidden reseller (exit 3), `report ... --out`
that cannot be written (exit 5, nothing written; a symlink's target is written),
`report monthly --month` and `report snapshot --date` at and past the edges,
`license reconcile -o csv|ndjson` one row per drift row."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from helpers import ok

from resellctl.domain import audit, resellers
from resellctl.domain.context import Ctx
from resellctl.store.engine import Store

ADMIN = "admin@vendor.example"
ANA = "ana@acme.example"
MONTH = "2026-11"


@pytest.fixture
def acme(run):  # noqa: ANN001, ANN201
    ok(run("user", "create", ANA, "-o", "json"))
    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", ANA,
           "--licenses", "5", "-o", "json"))
    ok(run("reseller", "create", "--slug", "beta", "--name", "Beta", "--owner", ADMIN,
           "-o", "json"))
    return run


def _store(url: str):  # noqa: ANN202
    return Store(url)


# ---------------------------------------------------------------- 1. whole lists


def test_audit_list_holds_every_event_without_limit(acme, store_url):
    store = _store(store_url)
    try:
        with store.write() as conn:
            audit.record_many(conn, ADMIN, "test.bulk", "thing",
                              [(n, None, {"n": n}) for n in range(130)])
    finally:
        store.dispose()
    events = ok(acme("audit", "list", "--action", "test.bulk", "-o", "json"))
    assert len(events) == 130
    lines = acme("audit", "list", "--action", "test.bulk", "-o", "ndjson").stdout.splitlines()
    assert len(lines) == 130
    rows = list(csv.DictReader(io.StringIO(
        acme("audit", "list", "--action", "test.bulk", "-o", "csv").stdout)))
    assert len(rows) == 130 and rows[0]["entity_id"] == "129"
    table = acme("audit", "list", "--action", "test.bulk")
    assert table.exit_code == 0 and "thing 0" in table.stdout  # the oldest, shown too
    limited = ok(acme("audit", "list", "--action", "test.bulk", "--limit", "7", "-o", "json"))
    assert [e["entity_id"] for e in limited] == [str(n) for n in range(129, 122, -1)]


def test_balance_history_holds_every_entry_without_limit(acme, store_url):
    store = _store(store_url)
    try:
        ctx = Ctx(store=store, actor=ADMIN)
        for n in range(60):
            resellers.top_up(ctx, "acme", 100 + n)
    finally:
        store.dispose()
    entries = ok(acme("reseller", "balance", "history", "acme", "-o", "json"))
    assert len(entries) == 60 and entries[-1]["amount_cents"] == 100
    assert len(acme("reseller", "balance", "history", "acme", "-o", "ndjson")
               .stdout.splitlines()) == 60
    assert len(list(csv.DictReader(io.StringIO(
        acme("reseller", "balance", "history", "acme", "-o", "csv").stdout)))) == 60
    assert len(ok(acme("reseller", "balance", "history", "acme", "--limit", "3",
                       "-o", "json"))) == 3


# ---------------------------------------------------------------- 2. audit --reseller


def test_audit_list_of_an_unknown_or_hidden_reseller_is_not_found(acme):
    assert ok(acme("audit", "list", "--reseller", "acme", "-o", "json"))  # created, etc.
    for slug, actor in (("nope", ADMIN), ("nope", ANA), ("beta", ANA)):
        result = acme("audit", "list", "--reseller", slug, "-o", "json", actor=actor)
        assert result.exit_code == 3, (slug, actor, result.stdout, result.stderr)
        assert result.stdout == ""
        assert json.loads(result.stderr)["error"]["exit_code"] == 3
    mine = ok(acme("audit", "list", "--reseller", "acme", "-o", "json", actor=ANA))
    assert mine and {e["reseller"] for e in mine} == {"acme"}


# ---------------------------------------------------------------- 3. --out


def _monthly_out(run, out: str):  # noqa: ANN001, ANN202
    return run("report", "monthly", "--month", MONTH, "-o", "csv", "--out", out)


def _activity_out(run, out: str):  # noqa: ANN001, ANN202
    return run("report", "activity", "--range", "7d", "-o", "csv", "--out", out)


@pytest.mark.parametrize("command", [_monthly_out, _activity_out])
def test_out_that_cannot_be_written_is_exit_5_and_writes_nothing(acme, tmp_path, command,
                                                                monkeypatch):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("keep")
    folder = tmp_path / "a_folder"
    folder.mkdir()
    fifo = tmp_path / "a_fifo"
    os.mkfifo(fifo)
    before = sorted(p.name for p in tmp_path.iterdir())
    for out in ("/proc/m.csv", str(tmp_path / "a_file" / "x"), "", str(folder), str(fifo),
                os.devnull):
        result = command(acme, out)
        assert result.exit_code == 5, (out, result.stdout, result.stderr)
        assert result.stderr.startswith(f"Error: cannot write {out or '.'}: "), result.stderr
        assert "internal error" not in result.stderr
        assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert list(folder.iterdir()) == []
    assert (tmp_path / "a_file").read_text() == "keep"
    assert os.path.exists(os.devnull) and not os.path.isfile(os.devnull)


@pytest.mark.parametrize("command", [_monthly_out, _activity_out])
def test_out_through_a_symlink_writes_its_target(acme, tmp_path, command):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    target = tmp_path / "target.out"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.out"
    link.symlink_to(target)
    result = command(acme, str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert target.read_text() != "old" and target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.out", "target.out"]


def test_db_backup_to_an_unwritable_folder_keeps_its_message(bare_run, run, store_url,
                                                             tmp_path):
    if not store_url.startswith("sqlite"):
        pytest.skip("db backup is SQLite only")
    (tmp_path / "a_file").write_text("")
    result = run("db", "backup", str(tmp_path / "a_file" / "b.db"))
    assert result.exit_code == 5
    assert result.stderr.startswith("Error: cannot write the backup at ")


# ---------------------------------------------------------------- 4. months and dates


@pytest.mark.parametrize("month", ["28-07", "0028-07", "2028-7", "+2028-07", " 2028-07",
                                   "2028-07 ", "2028-13", "2028-00", "２０２８-07",
                                   "9999-12", "0001-01", "1899-12", "9999-01", ""])
def test_monthly_refuses_malformed_and_out_of_range_months(acme, month):
    result = acme("report", "monthly", "--month", month, "-o", "json")
    assert result.exit_code == 5, (month, result.stdout, result.stderr)
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "invalid_month" and "--month" in error["message"]
    assert result.stdout == ""


@pytest.mark.parametrize("month", ["1900-01", "9998-12", "2028-07"])
def test_monthly_takes_the_months_at_the_edges(acme, month):
    now = {"RESELLCTL_NOW": f"{month}-15T12:00:00Z"}  # a month is exported once it begins
    rows = ok(acme("report", "monthly", "--month", month, "-o", "json", env=now))
    assert {r["reseller"] for r in rows} <= {"acme", "beta"}  # those existing by then
    assert all(r["month"] == month for r in rows)


def test_monthly_refuses_a_month_that_has_not_begun(acme):
    now = {"RESELLCTL_NOW": "2028-07-31T23:59:59Z"}
    assert len(ok(acme("report", "monthly", "--month", "2028-07", "-o", "json", env=now))) == 2
    result = acme("report", "monthly", "--month", "2028-08", "-o", "json", env=now)
    assert result.exit_code == 5 and result.stdout == ""
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "invalid_month" and "has not begun" in error["message"]


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_snapshot_at_the_edges_of_the_calendar_never_crashes(acme, day):
    result = acme("report", "snapshot", "--date", day, "-o", "json")
    assert result.exit_code in (0, 5), (result.stdout, result.stderr)
    if result.exit_code == 0:
        assert result.json["date"] == day
    else:
        assert json.loads(result.stderr)["error"]["exit_code"] == 5


# ---------------------------------------------------------------- 5. reconcile rows


def test_reconcile_csv_and_ndjson_have_a_row_per_drift_row(acme, store_url):
    from sqlalchemy import text

    uid = ok(acme("client", "create", "-r", "acme", "--name", "Orphan Co", "--owner-name",
                  "O", "--owner-email", "o@orphan.example", "-o", "json"))["uid"]
    ok(acme("reseller", "deactivate", "acme", "-o", "json"))
    store = _store(store_url)
    try:
        with store.write() as conn:
            conn.execute(text("UPDATE reseller SET license_count = 5, license_used = 2 "
                              "WHERE slug = 'beta'"))
    finally:
        store.dispose()
    whole = acme("license", "reconcile", "-o", "json")  # unchanged: one object
    assert whole.exit_code == 9
    assert set(whole.json) == {"resellers", "orphans", "applied"}
    assert [r["reseller"] for r in whole.json["resellers"]] == ["beta"]
    assert [o["client"] for o in whole.json["orphans"]] == [uid]

    lines = acme("license", "reconcile", "-o", "ndjson")
    assert lines.exit_code == 9
    rows = [json.loads(line) for line in lines.stdout.splitlines()]
    assert rows == [
        {"kind": "drift", "reseller": "beta", "stored_used": 2, "actual_used": 0,
         "drift": 2, "repaired": False, "note": None},
        {"kind": "orphan", "client": uid, "name": "Orphan Co", "reseller": "acme",
         "reason": "reseller inactive"}]

    table = acme("license", "reconcile", "-o", "csv")
    assert table.exit_code == 9
    assert list(csv.DictReader(io.StringIO(table.stdout))) == [
        {"reseller": "beta", "stored_used": "2", "actual_used": "0", "drift": "2",
         "repaired": "false", "note": ""}]
    assert f"1 orphan client(s), not in the csv: {uid} (acme: reseller inactive)" in (
        table.stderr)

    ok(acme("reseller", "activate", "acme", "-o", "json"))
    ok(acme("license", "reconcile", "--apply", "-o", "json"))
    clean = acme("license", "reconcile", "-o", "csv")
    assert clean.exit_code == 0 and clean.stderr == ""
    assert clean.stdout.splitlines() == [
        "reseller,stored_used,actual_used,drift,repaired,note"]
    assert acme("license", "reconcile", "-o", "ndjson").stdout == ""
