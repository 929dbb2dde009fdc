"""The import's reader process (SQLite), the seats cap, and new stores' page size."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from helpers import ok
from hypothesis import given, settings
from hypothesis import strategies as st
from test_import_blocks import acme, import_, pool, stored, write_big  # noqa: F401

from resellctl.domain import importer


def no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_a_multi_block_import_reaps_its_reader_process(acme, tmp_path, store_url) -> None:  # noqa: ANN001, F811
    source = tmp_path / "big.csv"
    write_big(source, importer.BLOCK * 3 + 17)
    summary = ok(import_(acme, source))
    assert summary["created"] == importer.BLOCK * 3 + 17
    assert no_children_left()


def test_the_reader_process_is_used_on_sqlite_only(monkeypatch, acme, tmp_path,  # noqa: ANN001, F811
                                                   store_url) -> None:
    forks = []
    monkeypatch.setattr(importer, "_from_child",
                        lambda blocks, rules: forks.append(1) or importer._here(blocks, rules))
    source = tmp_path / "big.csv"
    write_big(source, importer.BLOCK + 1)
    ok(import_(acme, source))
    assert forks == ([1] if store_url.startswith("sqlite") else [])
    assert len(stored(acme)) == importer.BLOCK + 1


def test_a_file_of_exactly_one_block_needs_no_reader_process(monkeypatch, acme,  # noqa: ANN001, F811
                                                             tmp_path) -> None:
    monkeypatch.setattr(importer, "_from_child", lambda *a: pytest.fail("forked"))
    source = tmp_path / "one.csv"
    write_big(source, importer.BLOCK - 1)
    ok(import_(acme, source))
    assert pool(acme) == (20000, importer.BLOCK - 1)


@pytest.mark.parametrize("seats", ["2147483648", "99999999999999999999"])
def test_seats_beyond_the_stores_integer_range_are_refused(acme, tmp_path, seats) -> None:  # noqa: ANN001, F811
    result = acme("client", "create", "--reseller", "acme", "--name", "Big", "--owner-name",
                  "Bo", "--owner-email", "bo@big.example", "--seats", seats, "-o", "json")
    assert result.exit_code == 5, result.stderr
    assert "at most 2,147,483,647" in result.stderr and "Traceback" not in result.stderr
    source = tmp_path / "big.csv"
    write_big(source, importer.BLOCK + 5, changes={1000: {"seats": seats}})
    error = json.loads(import_(acme, source).stderr.strip().splitlines()[-1])["error"]
    assert [(d["row"], d["column"]) for d in error["details"]] == [(1000, "seats")]
    assert stored(acme) == {}


def test_the_largest_seat_count_is_stored(acme) -> None:  # noqa: ANN001, F811
    created = ok(acme("client", "create", "--reseller", "acme", "--name", "Big",
                      "--owner-name", "Bo", "--owner-email", "bo@big.example",
                      "--seats", "2147483647", "-o", "json"))
    assert created["seats_allocated"] == 2_147_483_647


def test_a_new_sqlite_store_uses_8_kib_pages(bare_run, tmp_path: Path) -> None:  # noqa: ANN001
    db = tmp_path / "fresh.db"
    result = bare_run("--db", f"sqlite:///{db}", "init", "--admin-email", "a@v.example")
    assert result.exit_code == 0, result.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 8192
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_when_no_process_can_be_forked_the_import_reads_in_process(monkeypatch, acme,  # noqa: ANN001, F811
                                                                   tmp_path) -> None:
    def refuse() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(importer.os, "fork", refuse)
    source = tmp_path / "big.csv"
    write_big(source, importer.BLOCK * 2 + 3)
    assert ok(import_(acme, source))["created"] == importer.BLOCK * 2 + 3
    assert pool(acme) == (20000, importer.BLOCK * 2 + 3)


@pytest.mark.parametrize("column", ["name", "owner_email", "owner_phone", "external_id"])
def test_a_nul_character_is_refused_naming_its_row_and_column(acme, tmp_path, column) -> None:  # noqa: ANN001, F811
    """PostgreSQL cannot store NUL in text; both stores refuse it the same way, in a big
    CSV (column-wise path) and in JSON lines (row path)."""
    source = tmp_path / "big.csv"
    rows = write_big(source, importer.BLOCK + 5)
    bad = rows[700][column][:3] + "\x00" + rows[700][column][3:]
    write_big(source, importer.BLOCK + 5, changes={700: {column: bad}})
    error = json.loads(import_(acme, source).stderr.strip().splitlines()[-1])["error"]
    assert [(d["row"], d["column"]) for d in error["details"]] == [(700, column)]
    lines = tmp_path / "bad.ndjson"
    lines.write_text(json.dumps({**rows[2], column: bad}) + "\n", encoding="utf-8")
    error = json.loads(import_(acme, lines).stderr.strip().splitlines()[-1])["error"]
    assert [(d["row"], d["column"]) for d in error["details"]] == [(1, column)]
    assert stored(acme) == {}


def test_iter_clients_needs_no_filters(acme) -> None:  # noqa: ANN001, F811
    from resellctl.domain import clients
    from resellctl.domain.context import Ctx
    from resellctl.store.engine import Store

    ok(acme("client", "create", "--reseller", "acme", "--name", "Solo", "--owner-name", "S",
            "--owner-email", "s@solo.example", "-o", "json"))
    store = Store(acme.url)
    try:
        assert [c["name"] for c in clients.iter_clients(Ctx(store, ANA_ADMIN))] == ["Solo"]
    finally:
        store.dispose()


ANA_ADMIN = "admin@vendor.example"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.text(alphabet=["a", ",", '"', "\r", "\n", " ", "é", "\t", "'"],
                                 max_size=5), max_size=5), min_size=1, max_size=8))
def test_a_shipped_block_reads_back_the_same_rows(rows) -> None:  # noqa: ANN001
    shipped = importer.CsvBlock(["name"], 2, len(rows), rows=rows).shipped()
    assert shipped.rows == rows and len(shipped) == len(rows)
