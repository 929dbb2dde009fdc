"""`client import` of big files: blocks checked column by column, chunked writes (one COPY
on PostgreSQL), licences counted under the reseller lock; and `clients.new_uids`.

The files are a few blocks (importer.BLOCK rows) and chunks (importer.CHUNK rows) long, so
that a bad row, a repeat or an existing client sits deep inside, after rows that took the
fast path and were already written. Every store test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from helpers import ok, partner_reseller

from resellctl.domain import clients, importer

ADMIN = "admin@vendor.example"
ANA = "ana@acme.example"
HEADER = ["name", "owner_name", "owner_email", "owner_phone", "location", "stage", "plan",
          "seats", "support_type", "support_access", "external_id"]
UID = re.compile(r"cl_[0-9a-f]{20}")
STORED = ("name", "owner_name", "owner_email", "owner_phone", "location", "stage", "plan",
          "seats_allocated", "support_type", "support_access", "trial", "status")


# ---------------------------------------------------------------- new_uids

def test_new_uids_are_unique_increasing_and_well_formed() -> None:
    assert clients.new_uids(0) == [] and clients.new_uids(-3) == []
    assert [len(clients.new_uids(n)) for n in (1, 2, 7)] == [1, 2, 7]
    uids = clients.new_uids(50_000)
    assert len(uids) == 50_000
    assert all(UID.fullmatch(uid) for uid in uids)
    assert len(set(uids)) == len(uids)
    assert all(a < b for a, b in zip(uids, uids[1:], strict=False))


def test_new_uids_interleaved_with_new_uid_stay_in_order() -> None:
    issued: list[str] = []
    for round_ in range(300):
        issued.append(clients.new_uid())
        issued.extend(clients.new_uids(round_ % 17))
        issued.append(clients.new_uid())
        issued.extend(clients.new_uids(1))
    assert len(set(issued)) == len(issued)
    assert all(a < b for a, b in zip(issued, issued[1:], strict=False))
    assert all(UID.fullmatch(uid) for uid in issued)


def test_new_uids_in_one_millisecond_and_when_the_clock_steps_back(monkeypatch) -> None:  # noqa: ANN001
    """The same millisecond (or an earlier one) continues the last tail: still in order."""
    clock = {"ns": 1_900_000_000_000 * 1_000_000}
    monkeypatch.setattr(clients.time, "time_ns", lambda: clock["ns"])
    ms = clock["ns"] // 1_000_000 - clients._EPOCH_MS
    first = clients.new_uid()
    batch = clients.new_uids(1000)
    clock["ns"] -= 5_000_000  # NTP steps the clock back 5 ms
    after = [clients.new_uid(), *clients.new_uids(3), clients.new_uid()]
    issued = [first, *batch, *after]
    assert all(uid.startswith(f"cl_{ms:010x}") for uid in issued)  # the last millisecond kept
    tails = [int(uid[13:], 16) for uid in issued]
    assert tails == list(range(tails[0], tails[0] + len(issued)))  # consecutive, no gap
    clock["ns"] += 10_000_000  # a later millisecond: a fresh random tail, a bigger uid
    later = clients.new_uids(5)
    assert later[0] > issued[-1] and later[0][3:13] == f"{ms + 5:010x}"
    assert all(a < b for a, b in zip(later, later[1:], strict=False))


# ---------------------------------------------------------------- helpers

def cells(number: int, prefix: str = "E") -> dict[str, str]:
    """The cells of spreadsheet row `number` of a generated file: valid, varied, and not
    yet normalised (spaces around the name, a mixed-case e-mail)."""
    return {"name": f" Client {number} ", "owner_name": f"Owner {number}",
            "owner_email": f"Owner{number}@Client{number}.Example",
            "owner_phone": "" if number % 3 else f"+351 21 {number:07d}",
            "location": "" if number % 4 else f"City {number % 50}",
            "stage": ("lead", "demo", "trial", "")[number % 4],
            "plan": ("", "business-location", "enterprise")[number % 3],
            "seats": str(number % 11) if number % 5 else "",
            "support_type": "partner" if number % 7 else "vendor",
            "support_access": ("yes" if number % 2 else "no") if number % 7 else "no",
            "external_id": f"{prefix}-{number}"}


def normalised(row: dict[str, str]) -> tuple:
    """What a valid new row is stored as (STORED order)."""
    return (row["name"].strip(), row["owner_name"].strip(), row["owner_email"].strip().lower(),
            row["owner_phone"] or None, row["location"] or None, row["stage"] or "lead",
            row["plan"] or None, int(row["seats"] or 0), row["support_type"],
            row["support_access"] == "yes", row["stage"] == "trial", "active")


def write_big(path: Path, count: int, *, changes: dict[int, dict] | None = None,
              lines: dict[int, str] | None = None, prefix: str = "E",
              columns: list[str] = HEADER, header: list[str] | None = None,
              encoding: str = "utf-8") -> dict[int, dict]:
    """A CSV with `count` clients; the header is row 1. `changes` replaces cells of some
    rows; `lines` puts a line holding no client (blank) at some row numbers. Returns the
    cells of each client (the file's columns) by row number."""
    changes, lines = changes or {}, lines or {}
    rows: dict[int, dict] = {}
    number = 1
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header or columns)
        while len(rows) < count:
            number += 1
            if number in lines:
                handle.write(lines[number] + "\n")
                continue
            row = {**cells(number, prefix), **changes.get(number, {})}
            rows[number] = {c: row[c] for c in columns}
            writer.writerow([row[c] for c in columns])
    return rows


def import_(run, source: Path, *args: str, reseller: str = "acme"):  # noqa: ANN001, ANN201
    return run("client", "import", str(source), "--reseller", reseller, *args, "-o", "json")


def error_of(result, code: int) -> dict:  # noqa: ANN001
    """The `-o json` error object on stderr's last line (after `N failed row(s) written`)."""
    assert result.exit_code == code, (result.stdout[:2000], result.stderr[:2000])
    assert "Traceback" not in result.stderr
    error = json.loads(result.stderr.splitlines()[-1])["error"]
    assert error["exit_code"] == code
    return error


def partial(result) -> dict:  # noqa: ANN001
    """The summary of an import that exits 9 (some rows failed, the others written)."""
    assert error_of(result, 9)["code"] == "partial_import"
    return json.loads(result.stdout)


def counts(summary: dict) -> tuple[int, int, int, int]:
    return tuple(summary[k] for k in ("created", "updated", "skipped", "failed"))


def stored(run) -> dict[str, tuple]:  # noqa: ANN001
    """Every client of the store, (uid, values in STORED order) by external id (by uid
    without one), straight from the tables: quick on thousands of rows."""
    from sqlalchemy import select

    from resellctl.store import tables
    from resellctl.store.engine import make_engine

    c = tables.client.c
    engine = make_engine(run.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(
                c.external_id, c.uid, c.name, c.owner_name, c.owner_email, c.owner_phone,
                c.location, c.stage, c.plan, c.seats_allocated, c.support_type,
                c.support_access, c.trial_ends_at.is_not(None), c.status).order_by(c.id)).all()
    finally:
        engine.dispose()
    return {r[0] or r[1]: (r[1], tuple(r[2:])) for r in rows}


def sql(run, statement: str) -> list:  # noqa: ANN001
    from sqlalchemy import text

    from resellctl.store.engine import make_engine

    engine = make_engine(run.url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(statement)).all()
    finally:
        engine.dispose()


def values(run) -> dict[str, tuple]:  # noqa: ANN001
    return {k: v for k, (_uid, v) in stored(run).items()}


def pool(run) -> tuple[int, int]:  # noqa: ANN001
    data = ok(run("license", "show", "acme", "-o", "json"))
    return data["license_count"], data["license_used"]


def imports(run) -> list[dict]:  # noqa: ANN001
    """The imports' own audit events (not the per-client events of import updates)."""
    return [e for e in ok(run("audit", "list", "--action", "client.import", "-o", "json"))
            if e["entity_type"] == "import"]


def failed_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def original(row: dict, number: int) -> dict:
    """A row of --errors-out: the original cells, then `error` naming the row."""
    assert row["error"].startswith(f"row {number}: "), row["error"]
    return {k: v for k, v in row.items() if k != "error"}


@pytest.fixture
def acme(run):  # noqa: ANN001, ANN201
    """Partner-supported reseller `acme` (owner ana) with 20,000 licences."""
    return partner_reseller(run, ANA, 20_000)


# ---------------------------------------------------------------- one bad row, deep inside

BAD_ROW = 4321


def test_one_bad_row_deep_inside_a_big_file_refuses_the_whole_file(acme, tmp_path) -> None:  # noqa: ANN001
    source = tmp_path / "big.csv"
    write_big(source, 6000, changes={BAD_ROW: {"owner_email": "not-an-email"}})
    error = error_of(import_(acme, source), 5)
    assert error["code"] == "invalid_rows"
    assert [(d["row"], d["column"]) for d in error["details"]] == [(BAD_ROW, "owner_email")]
    assert "1 row(s)" in error["message"]
    assert stored(acme) == {} and pool(acme) == (20000, 0) and imports(acme) == []
    # as text too: the row and the column on stderr, nothing on stdout
    text = acme("client", "import", str(source), "--reseller", "acme")
    assert text.exit_code == 5 and text.stdout == ""
    assert any(f"row {BAD_ROW}" in line and "owner_email" in line
               for line in text.stderr.splitlines()), text.stderr
    assert stored(acme) == {} and pool(acme) == (20000, 0)


def test_continue_on_error_writes_every_other_row_of_a_big_file(acme, tmp_path) -> None:  # noqa: ANN001
    source, errors_out = tmp_path / "big.csv", tmp_path / "failed.csv"
    bad = {BAD_ROW: {"owner_email": "not-an-email", "name": "  Spaced, \"quoted\"  "}}
    rows = write_big(source, 6000, changes=bad)
    summary = partial(import_(acme, source, "--continue-on-error", "--errors-out",
                              str(errors_out)))
    assert counts(summary) == (5999, 0, 0, 1)
    assert [(e["row"], e["column"]) for e in summary["errors"]] == [(BAD_ROW, "owner_email")]
    [failed] = failed_rows(errors_out)
    assert original(failed, BAD_ROW) == rows[BAD_ROW]  # the cells as given, not normalised
    assert "owner_email" in failed["error"]
    got = stored(acme)
    good = {n: r for n, r in rows.items() if n != BAD_ROW}
    assert {k: v for k, (_uid, v) in got.items()} == {
        r["external_id"]: normalised(r) for r in good.values()}
    # new uids follow the file's order, across blocks, chunks and the row-by-row block
    uids = [got[r["external_id"]][0] for _n, r in sorted(good.items())]
    assert all(UID.fullmatch(u) for u in uids) and uids == sorted(set(uids))
    assert pool(acme) == (20000, 5999)
    [event] = imports(acme)
    assert {k: event["changes"][k] for k in ("created", "failed")} == {"created": 5999,
                                                                      "failed": 1}
    # the errors file, fixed, goes back in as it is (its `error` column ignored)
    text = errors_out.read_text(encoding="utf-8").replace("not-an-email", "fixed@x.example")
    errors_out.write_text(text, encoding="utf-8")
    assert counts(ok(import_(acme, errors_out))) == (1, 0, 0, 0)
    assert values(acme)[f"E-{BAD_ROW}"][2] == "fixed@x.example"
    assert pool(acme) == (20000, 6000)


def test_an_external_id_repeated_across_blocks_names_its_first_row(acme, tmp_path) -> None:  # noqa: ANN001
    source = tmp_path / "big.csv"
    repeat = {10: {"external_id": "DUP-1"}, 6000: {"external_id": " DUP-1 "},
              6001: {"external_id": "DUP-1"}, 2500: {"external_id": "E-2002"}}
    rows = write_big(source, 6500, changes=repeat)
    error = error_of(import_(acme, source), 5)
    details = [(d["row"], d["column"]) for d in error["details"]]
    assert details == [(2500, "external_id"), (6000, "external_id"), (6001, "external_id")]
    messages = [d["message"] for d in error["details"]]
    assert "E-2002" in messages[0] and "repeats row 2002" in messages[0]
    assert all("DUP-1" in m and "repeats row 10" in m for m in messages[1:]), messages
    assert stored(acme) == {} and pool(acme) == (20000, 0)

    summary = partial(import_(acme, source, "--continue-on-error"))
    assert counts(summary) == (6497, 0, 0, 3)
    got = values(acme)
    assert len(got) == 6497
    assert got["DUP-1"] == normalised(rows[10])
    assert got["E-2002"] == normalised(rows[2002])
    assert pool(acme) == (20000, 6497)


# ---------------------------------------------------------------- existing clients

def seed(run, tmp_path: Path, numbers: list[int], prefix: str) -> dict[str, tuple]:  # noqa: ANN001
    source = tmp_path / f"seed-{prefix}.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for n in numbers:
            writer.writerow([f"Seed {n}", "Old Owner", f"old{n}@seed.example",
                             "+1 555 0100 00", "Old town", "lead", "enterprise", "1",
                             "partner", "no", f"{prefix}-{n}"])
    assert counts(ok(import_(run, source))) == (len(numbers), 0, 0, 0)
    return {k: v for k, v in stored(run).items() if k.startswith(f"{prefix}-")}


def test_existing_clients_in_the_middle_of_a_big_file(acme, tmp_path) -> None:  # noqa: ANN001
    # existing clients early (a block of its own), in the middle and after the first chunk
    existing = [*range(100, 110), *range(3000, 3010), *range(6200, 6210)]
    seeds = {**seed(acme, tmp_path, existing, "A"), **seed(acme, tmp_path, existing, "B")}
    uids = {k: v[0] for k, v in stored(acme).items()}
    total = 6500

    # skip: the existing clients stay as they are, the others are created
    skip_file = tmp_path / "skip.csv"
    rows = write_big(skip_file, total, prefix="A")
    summary = ok(import_(acme, skip_file, "--on-existing", "skip"))
    assert counts(summary) == (total - len(existing), 0, len(existing), 0)
    got = stored(acme)
    assert {k: got[k][1] for k in seeds} == {k: v[1] for k, v in seeds.items()}
    assert all(got[k][1] == normalised(r) for r in rows.values()
               if (k := r["external_id"]) not in seeds)
    assert pool(acme) == (20000, total + len(existing))

    # the same file again: nothing created, every row skipped, nothing changed
    again = ok(import_(acme, skip_file, "--on-existing", "skip"))
    assert counts(again) == (0, 0, total, 0)
    assert stored(acme) == got and pool(acme) == (20000, total + len(existing))

    # update: the existing clients take the row's non-empty cells, the others are created
    update_file = tmp_path / "update.csv"
    renamed = {n: {"name": f" Renamed {n} ", "stage": "demo", "location": "", "seats": "9",
                   "support_type": "partner", "support_access": "yes"} for n in existing}
    rows = write_big(update_file, total, changes=renamed, prefix="B")
    summary = ok(import_(acme, update_file, "--on-existing", "update"))
    assert counts(summary) == (total - len(existing), len(existing), 0, 0)
    got = stored(acme)
    for n in existing:
        key, row = f"B-{n}", rows[n]
        assert got[key][0] == uids[key]  # the same client, updated in place
        assert got[key][1] == (
            f"Renamed {n}", row["owner_name"], row["owner_email"].lower(),
            row["owner_phone"] or "+1 555 0100 00", "Old town", "demo",
            row["plan"] or "enterprise", 9, "partner", True, False, "active")
    assert all(got[k][1] == normalised(r) for r in rows.values()
               if (k := r["external_id"]) not in seeds)
    assert {k: got[k][1] for k in seeds if k.startswith("A-")} == {
        k: v[1] for k, v in seeds.items() if k.startswith("A-")}
    assert len(got) == 2 * total
    assert pool(acme) == (20000, 2 * total)
    assert [counts(e["changes"]) for e in reversed(imports(acme))] == [
        (len(existing), 0, 0, 0), (len(existing), 0, 0, 0),
        (total - len(existing), 0, len(existing), 0), (0, 0, total, 0),
        (total - len(existing), len(existing), 0, 0)]


# ---------------------------------------------------------------- licences

def test_fewer_free_licences_than_rows(acme, tmp_path) -> None:  # noqa: ANN001
    ok(acme("license", "revoke", "acme", str(20000 - 4321), "-o", "json"))
    for n in range(3):
        ok(acme("client", "create", "--reseller", "acme", "--name", f"Before {n}",
                "--owner-name", "B", "--owner-email", f"b{n}@before.example", "-o", "json"))
    free = 4321 - 3
    source, errors_out = tmp_path / "big.csv", tmp_path / "failed.csv"
    rows = write_big(source, 5500, changes={100: {"seats": "many"}})

    # all or nothing: refused, nothing written
    error = error_of(import_(acme, source), 5)  # the bad row is reported first
    assert [d["row"] for d in error["details"]] == [100]
    fixed = tmp_path / "fixed.csv"
    write_big(fixed, 5500)
    error = error_of(import_(acme, fixed), 7)
    assert error["code"] == "no_free_license" and str(free) in error["message"]
    assert pool(acme) == (4321, 3) and len(stored(acme)) == 3
    error_of(import_(acme, fixed, "--dry-run"), 7)

    # --continue-on-error: exactly the free licences' worth of new clients, in file order
    summary = partial(import_(acme, source, "--continue-on-error", "--errors-out",
                              str(errors_out)))
    valid = [n for n in sorted(rows) if n != 100]
    created, refused = valid[:free], valid[free:]
    assert counts(summary) == (free, 0, 0, 1 + len(refused))
    errors = {e["row"]: e for e in summary["errors"]}
    assert sorted(errors) == [100, *refused]
    assert errors[100]["column"] == "seats"
    assert {(errors[n]["column"], errors[n]["message"]) for n in refused} == {
        (None, "no free licence")}
    failed = failed_rows(errors_out)
    assert [int(f["error"].split(":")[0].split()[1]) for f in failed] == [100, *refused]
    assert [original(f, n) for f, n in zip(failed, [100, *refused], strict=True)] == [
        rows[n] for n in [100, *refused]]
    assert all(f["error"].endswith("no free licence") for f in failed[1:])
    got = stored(acme)
    assert {k for k in got if k.startswith("E-")} == {rows[n]["external_id"] for n in created}
    assert len(got) == 4321 and {v[-1] for _uid, v in got.values()} == {"active"}
    assert pool(acme) == (4321, 4321)  # license_used = the number of active clients


def test_a_big_dry_run_writes_nothing(acme, tmp_path) -> None:  # noqa: ANN001
    source = tmp_path / "big.csv"
    write_big(source, 10_000)
    summary = ok(import_(acme, source, "--dry-run"))
    assert counts(summary) == (10_000, 0, 0, 0)
    assert summary["dry_run"] is True and summary["import_id"] is None
    assert stored(acme) == {} and pool(acme) == (20000, 0) and imports(acme) == []
    ok(acme("license", "revoke", "acme", "12000", "-o", "json"))  # 8,000 left
    summary = partial(import_(acme, source, "--dry-run", "--continue-on-error"))
    assert counts(summary) == (8000, 0, 0, 2000)
    assert {e["message"] for e in summary["errors"]} == {"no free licence"}
    assert [e["row"] for e in summary["errors"]] == list(range(8002, 10_002))
    assert stored(acme) == {} and pool(acme) == (8000, 0) and imports(acme) == []


# ---------------------------------------------------------------- row numbers

def test_row_numbers_count_blank_lines_in_a_big_file(acme, tmp_path) -> None:  # noqa: ANN001
    width = len(HEADER)
    blank = {3: "", 4: "", 1500: " ", 2001: "", 2002: "," * (width - 1), 2003: "",
             4100: " , ,", 6003: ""}
    quoted = {50: {"location": "Unit 4\nHigh Street\r\nLeeds"}}  # one record, three lines
    bad = {4005: {"seats": "-1"}, 6789: {"stage": "churned"}}
    ragged = {5555: "Ragged,Row,r@x.example"}  # 3 cells where the header has 11
    columns = list(reversed(HEADER))  # any order, any case, a byte-order mark
    header = [f" {c.upper()} " for c in columns]
    header[0] = "\ufeff" + header[0]
    source = tmp_path / "blanks.csv"
    rows = write_big(source, 7000, changes={**quoted, **bad}, lines={**blank, **ragged},
                     columns=columns, header=header)
    assert max(rows) == 7000 + len(blank) + len(ragged) + 1
    error = error_of(import_(acme, source), 5)
    assert [(d["row"], d["column"]) for d in error["details"]] == [
        (4005, "seats"), (5555, None), (6789, "stage")]
    assert "expected 11 cells, found 3" in error["details"][1]["message"]
    assert stored(acme) == {}
    errors_out = tmp_path / "failed.csv"
    summary = partial(import_(acme, source, "--continue-on-error", "--errors-out",
                              str(errors_out)))
    assert counts(summary) == (6998, 0, 0, 3)
    failed = failed_rows(errors_out)
    assert [f["error"].split(":")[0] for f in failed] == ["row 4005", "row 5555", "row 6789"]
    assert [original(f, n) for f, n in zip([failed[0], failed[2]], bad, strict=True)] == [
        {c: rows[n][c] for c in HEADER} for n in bad]
    got = values(acme)
    assert got == {r["external_id"]: normalised(r) for n, r in rows.items() if n not in bad}
    assert got["E-50"][4] == "Unit 4\nHigh Street\r\nLeeds"


# ---------------------------------------------------------------- failing mid-stream

def invalid_utf8_file(path: Path, count: int, bad_row: int) -> None:
    write_big(path, count)
    lines = path.read_bytes().split(b"\n")
    lines[bad_row - 1] = lines[bad_row - 1].replace(b"Client", b"Cli\xff\xfent", 1)
    path.write_bytes(b"\n".join(lines))


def test_invalid_utf8_deep_in_a_big_file_leaves_nothing(acme, tmp_path) -> None:  # noqa: ANN001
    ok(acme("client", "create", "--reseller", "acme", "--name", "Before", "--owner-name", "B",
            "--owner-email", "b@before.example", "--external-id", "BEFORE", "-o", "json"))
    bad_row = importer.CHUNK + importer.BLOCK + 2000  # 9,000: a chunk written by then
    source = tmp_path / "latin.csv"
    invalid_utf8_file(source, 9500, bad_row)
    for extra in ([], ["--continue-on-error"]):
        error = error_of(import_(acme, source, *extra), 5)
        assert error["code"] == "invalid_encoding" and "UTF-8" in error["message"]
        assert list(stored(acme)) == ["BEFORE"] and pool(acme) == (20000, 1)
        assert imports(acme) == []
    # the store takes the next commands as usual
    assert [c["name"] for c in ok(acme("client", "list", "-o", "json"))] == ["Before"]
    fine = tmp_path / "fine.csv"
    write_big(fine, 2500)
    assert counts(ok(import_(acme, fine))) == (2500, 0, 0, 0)
    assert len(stored(acme)) == 2501 and pool(acme) == (20000, 2501)


def test_an_import_failing_mid_stream_leaves_the_connection_clean(acme, tmp_path) -> None:  # noqa: ANN001
    """The same Store (one pooled connection) after an import that failed while its rows
    were being written: on PostgreSQL the COPY was aborted, not left open."""
    from resellctl.domain.context import Ctx
    from resellctl.domain.errors import Invalid
    from resellctl.store.engine import Store

    source, small = tmp_path / "big.csv", tmp_path / "small.csv"
    write_big(source, 4 * importer.BLOCK)
    write_big(small, 10)
    store = Store(acme.url)
    ctx = Ctx(store, ADMIN)

    def connection() -> tuple:
        with store.read() as conn:
            raw = conn.connection.dbapi_connection
            pid = (conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                   if conn.dialect.name == "postgresql" else None)
            return raw, pid

    def failing(blocks):  # noqa: ANN001, ANN202
        for number, block in enumerate(blocks, start=1):
            yield block
            if number * importer.BLOCK > importer.CHUNK + importer.BLOCK:
                raise Invalid("the disk went away", code="read_error")

    try:
        before = connection()
        with source.open(encoding="utf-8", newline="") as handle, \
                pytest.raises(Invalid, match="disk went away"):
            importer.import_clients(ctx, failing(importer.read_csv(handle)), "acme",
                                    importer.Options(source=str(source)))
        assert connection() == before  # the connection went back to the pool, usable
        with small.open(encoding="utf-8", newline="") as handle:
            result = importer.import_clients(ctx, importer.read_csv(handle), "acme",
                                             importer.Options(source=str(small)))
        assert counts(result) == (10, 0, 0, 0)
        assert connection() == before
    finally:
        store.dispose()
    assert len(stored(acme)) == 10 and pool(acme) == (20000, 10)
    assert [counts(e["changes"]) for e in imports(acme)] == [(10, 0, 0, 0)]


def test_json_lines_in_several_blocks(acme, tmp_path) -> None:  # noqa: ANN001
    """JSON lines take the row-by-row path in blocks too: numbering and repeats hold."""
    source = tmp_path / "big.ndjson"
    lines = [json.dumps({**cells(n), "seats": n % 11}) for n in range(1, 4201)]
    lines[2999] = ""  # line 3000: blank
    lines[4099] = json.dumps({**cells(4100), "external_id": "E-7"})  # line 4100 repeats 7
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    [detail] = error_of(import_(acme, source), 5)["details"]
    assert (detail["row"], detail["column"]) == (4100, "external_id")
    assert "repeats row 7" in detail["message"]
    summary = partial(import_(acme, source, "--continue-on-error"))
    assert counts(summary) == (4198, 0, 0, 1)
    assert pool(acme) == (20000, 4198)
    assert values(acme)["E-4199"] == normalised({**cells(4199), "seats": str(4199 % 11)})


def test_the_reader_numbers_blocks_like_a_spreadsheet() -> None:
    text = "\n\nname,owner_name,owner_email\n" + "".join(
        f"N{n},O,o{n}@x.example\n" if n % 1000 else "\n" for n in range(1, 4502))
    blocks = list(importer.read_csv(io.StringIO(text)))
    assert [len(b) for b in blocks] == [importer.BLOCK, importer.BLOCK, 501]
    assert [b.start for b in blocks] == [4, 4 + importer.BLOCK, 4 + 2 * importer.BLOCK]
    numbered = [(number, cells_["name"]) for b in blocks for number, cells_ in b.records()]
    assert numbered == [(n + 3, f"N{n}") for n in range(1, 4502) if n % 1000]


def test_a_big_file_of_the_required_columns_only(acme, tmp_path) -> None:  # noqa: ANN001
    source = tmp_path / "three.csv"
    rows = write_big(source, 5000, columns=["owner_email", "name", "owner_name"])
    assert counts(ok(import_(acme, source))) == (5000, 0, 0, 0)
    got = stored(acme)
    assert len(got) == 5000
    assert {v for _uid, v in got.values()} == {
        (r["name"].strip(), r["owner_name"], r["owner_email"].lower(), None, None, "lead",
         None, 0, "partner", False, False, "active") for r in rows.values()}


def test_direct_clients_repeats_and_existing_ids_across_blocks(run, tmp_path) -> None:  # noqa: ANN001
    """Direct clients (no reseller): the database has no unique index to fall back on
    (reseller_id is NULL), so the importer alone keeps their external ids unique."""
    columns = [c for c in HEADER if not c.startswith("support_")]  # vendor-supported
    seed_file = tmp_path / "seed.csv"
    write_big(seed_file, 3, changes={n: {"external_id": f"OLD-{n}"} for n in (2, 3, 4)},
              columns=columns)
    assert counts(ok(run("client", "import", str(seed_file), "-o", "json"))) == (3, 0, 0, 0)
    source = tmp_path / "direct.csv"
    clash = {10: {"external_id": "D-1"}, 6000: {"external_id": "D-1"},
             5000: {"external_id": "OLD-3"}, 5001: {"external_id": "D-2"},
             6050: {"external_id": " D-2"}}
    write_big(source, 6100, changes=clash, columns=columns)

    def direct(*args: str):  # noqa: ANN202
        return run("client", "import", str(source), *args, "-o", "json")

    def totals() -> tuple[int, int]:
        [(rows, ids)] = sql(run, "SELECT count(*), count(DISTINCT external_id) FROM client "
                                 "WHERE reseller_id IS NULL")
        return rows, ids

    error = error_of(direct(), 5)
    assert [(d["row"], d["column"]) for d in error["details"]] == [
        (5000, "external_id"), (6000, "external_id"), (6050, "external_id")]
    assert "OLD-3" in error["details"][0]["message"]
    assert "repeats row 10" in error["details"][1]["message"]
    assert "repeats row 5001" in error["details"][2]["message"]
    assert totals() == (3, 3)
    assert counts(partial(direct("--continue-on-error"))) == (6097, 0, 0, 3)
    assert totals() == (3 + 6097, 3 + 6097)
    # again, skipping the existing ones: the repeats still fail, nothing is created twice
    assert counts(partial(direct("--on-existing", "skip", "--continue-on-error"))) == (
        0, 0, 6098, 2)
    assert totals() == (3 + 6097, 3 + 6097)
