"""`csvfile.write_rows`: chunks of text cells are joined when that is what csv.writer
writes (its fast path), and written by csv.writer otherwise; and the installed command's
big SQLite export (a real stdout)."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_entrypoint import COMMANDS, clean_env, cli

from resellctl.domain import csvfile

TRICKY = st.sampled_from(["", ",", '"', "\n", "\r", "\r\n", " ", "'", "=", "a", "é", "€"])
PLAIN = st.text(alphabet="ab1 -'é", max_size=4)
TEXT = st.lists(st.one_of(TRICKY, st.text(max_size=3)), max_size=4).map("".join)
CELL = st.one_of(st.none(), st.integers(-10**12, 10**12), TEXT)


def rows_of(cell: st.SearchStrategy) -> st.SearchStrategy:
    """Lists of rows of one width (a query's rows)."""
    return st.integers(1, 5).flatmap(lambda width: st.lists(
        st.tuples(*[cell] * width), min_size=1, max_size=30))


def reference(rows: list[tuple]) -> str:
    """What csv.writer writes, a row at a time; a row with a carriage return fully
    quoted (csvfile's rule: with "\n" line ends a lone CR would read as a line break)."""
    out = io.StringIO()
    plain = csv.writer(out, lineterminator="\n")
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in rows:
        (quoted if any(isinstance(v, str) and "\r" in v for v in row) else plain).writerow(row)
    return out.getvalue()


def written(rows: list[tuple]) -> str:
    out = io.StringIO()
    csvfile.write_rows(rows, out)
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(rows_of(CELL))
def test_write_rows_writes_what_csv_writer_writes(rows: list[tuple]) -> None:
    assert written(rows) == reference(rows)


@settings(max_examples=300, deadline=None)
@given(rows_of(PLAIN), st.tuples(PLAIN, TRICKY, PLAIN).map("".join), st.integers(0),
       st.integers(0))
def test_one_cell_in_plain_text_rows_decides_between_join_and_csv_writer(
        rows: list[tuple], cell: str, row: int, column: int) -> None:
    """Plain rows are joined; one cell that needs quoting must send its chunk through
    csv.writer (tricky cells everywhere would hide a missed check: every chunk then
    fails the separator count)."""
    changed = list(rows[row % len(rows)])
    changed[column % len(changed)] = cell
    rows[row % len(rows)] = tuple(changed)
    assert written(rows) == reference(rows)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 6).flatmap(lambda width: st.lists(
    st.tuples(*[PLAIN] * width), min_size=1, max_size=30)))
def test_text_cells_needing_no_quotes_are_joined(rows: list[tuple]) -> None:
    assert written(rows) == "".join(",".join(row) + "\n" for row in rows) == reference(rows)


def test_one_tricky_cell_sends_only_its_chunk_through_csv_writer() -> None:
    plain = [(f"c{n}", "x", str(n)) for n in range(csvfile.CHUNK * 3)]
    for cell in (",", '"', "a\nb", "a\rb", None, 7):
        rows = list(plain)
        rows[csvfile.CHUNK + 5] = ("c", cell, "1")
        assert written(rows) == reference(rows), cell


def test_a_lone_empty_cell_is_quoted_as_csv_writer_does() -> None:
    assert written([("",), ("a",)]) == reference([("",), ("a",)]) == '""\na\n'


def test_a_sqlite_cursor_is_written_alike_as_utf8_bytes_or_as_str(tmp_path) -> None:  # noqa: ANN001
    """write_cursor fetches UTF-8 bytes when it writes into a UTF-8 file (and decodes
    only a chunk that needs quoting), str otherwise: the same CSV either way."""
    import sqlite3

    rows = [(f"s{n}", f"Zoë {n}" + ("," if n % 1500 == 7 else "") + ('"' if n == 2500 else ""),
             "" if n % 3 else "x", str(n)) for n in range(3 * csvfile.CHUNK)]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a TEXT, b TEXT, c TEXT, d TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
    expected = "a,b,c,d\n" + reference(rows)
    for encoding in ("utf-8", "latin-1"):
        target = tmp_path / f"{encoding}.csv"
        with target.open("w", encoding=encoding, newline="") as out:
            csvfile.write_cursor(conn.execute("SELECT a, b, c, d FROM t ORDER BY rowid"), out)
        assert target.read_text(encoding=encoding) == expected, encoding
    buffer = io.StringIO()
    csvfile.write_cursor(conn.execute("SELECT a, b, c, d FROM t ORDER BY rowid"), buffer)
    assert buffer.getvalue() == expected
    assert conn.text_factory is str  # given back as it was


def test_the_installed_command_exports_a_big_sqlite_portfolio_like_json(tmp_path) -> None:  # noqa: ANN001
    env = clean_env(tmp_path)
    assert cli("script", "init", "--admin-email", "a@v.example", env=env).returncode == 0
    source = tmp_path / "c.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_ALL)  # the CRs
        writer.writerow(["name", "owner_name", "owner_email", "location", "external_id"])
        for n in range(2_500):
            writer.writerow([f"=Co {n}" if n % 11 == 0 else f"Co, {n}", "O",
                             f"o{n}@x.example", "Lyon\r" if n % 13 == 0 else "Porto",
                             f"E{n}"])
    imported = cli("script", "client", "import", str(source), "-o", "json", env=env)
    assert imported.returncode == 0, imported.stderr
    target = tmp_path / "out.csv"
    with target.open("w") as out:
        listed = subprocess.run([*COMMANDS["script"](), "client", "list", "-o", "csv"],
                                env=env, stdout=out, stderr=subprocess.PIPE, text=True,
                                timeout=60)
    assert listed.returncode == 0, listed.stderr
    as_json = json.loads(cli("script", "client", "list", "-o", "json", env=env).stdout)
    with target.open(encoding="utf-8", newline="") as back:
        rows = list(csv.DictReader(back))
    assert len(rows) == len(as_json) == 2_500
    for row, item in zip(rows, as_json, strict=True):
        name = item["name"]
        assert row["name"] == ("'" + name if name.startswith("=") else name)
        assert row["location"] == item["location"] and row["external_id"] == item["external_id"]


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_text_that_is_not_utf8_fails_as_the_driver_fails(tmp_path, encoding) -> None:  # noqa: ANN001
    """Bytes fetched as they are must still be UTF-8: a bad cell fails the export
    with the driver's error (exit 75 in the CLI), as when the driver makes str of it,
    whether its chunk would be joined or quoted."""
    import sqlite3

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a TEXT, b TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(f"r{n}", "x") for n in range(10)])
    for bad in ("CAST(x'41ff42' AS TEXT)", "CAST(x'41ff2c42' AS TEXT)"):  # joined; quoted
        conn.execute(f"UPDATE t SET b = {bad} WHERE a = 'r5'")
        with (tmp_path / "out.csv").open("w", encoding=encoding, newline="") as out, \
                pytest.raises(sqlite3.OperationalError, match="decode to UTF-8"):
            csvfile.write_cursor(conn.execute("SELECT a, b FROM t"), out)
