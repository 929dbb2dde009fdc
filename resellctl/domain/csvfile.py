"""CSV as resellctl writes it: "\n" line ends, spreadsheet-safe cells, chunked writes.

Used by every `-o csv` (through cli/output.py), by the portfolio export and by
`client import --errors-out`; the import reads the formula guard back with unguarded().
No third-party imports: `--help` stays fast.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

# A cell starting with one of these is a formula to a spreadsheet: it gets a leading quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 1000


def unguarded(text: str) -> str:
    """A cell of an export as the value it shows. The export guards a value that starts
    with a formula character, or with quotes and then one, with one more quote (`=x` →
    `'=x`, `'=x` → `''=x`; clients._guarded): that quote is dropped, nothing else."""
    if text[:1] == "'" and text.lstrip("'").startswith(FORMULA_START):
        return text[1:]
    return text


def unguarded_column(cells: Sequence[str]) -> Sequence[str]:
    """unguarded() over a column; when no cell starts with a quote (the usual case) one
    join finds it out, in C, and the column is returned as it is."""
    joined = "\x00".join(cells)
    if not joined.startswith("'") and "\x00'" not in joined:
        return cells
    return [unguarded(cell) for cell in cells]


def write_rows(rows: Iterable[Sequence], out: TextIO) -> None:
    """Write rows of ready cells (str, int or None), a chunk at a time.

    A chunk of text cells (str only) that holds no quote, comma, line break or carriage
    return inside a cell is written joined (str.join, ~8x cheaper than csv.writer): it is
    then exactly what csv.writer writes. Any other chunk goes through csv.writer (in C).
    Rows of a chunk must have the same number of cells (a query's rows)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, CHUNK)):
        text = _joined(chunk)
        if text is not None:
            out.write(text)
            continue
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(chunk)
        text = buffer.getvalue()
        if "\r" in text:
            _with_carriage_returns(chunk, out)
        else:
            out.write(text)


def _joined(chunk: list[Sequence], comma: Any = ",", newline: Any = "\n",
            quote: Any = '"', carriage_return: Any = "\r") -> Any:
    """The chunk as CSV lines by joining its cells, or None when that would not be what
    csv.writer writes: a cell that is not text (TypeError), or one that needs quoting,
    found by counting separators over the whole text (a few C scans per chunk). Text
    is str, or UTF-8 bytes with the separators given as bytes."""
    width = len(chunk[0])
    if width < 2:  # csv.writer writes a lone empty cell as ""
        return None
    try:
        text = newline.join(map(comma.join, chunk))
    except TypeError:
        return None
    if (text.count(comma) != (width - 1) * len(chunk)
            or text.count(newline) != len(chunk) - 1 or quote in text
            or carriage_return in text):
        return None
    return text + newline


def _with_carriage_returns(chunk: list[Sequence], out: TextIO) -> None:
    """With "\n" line ends csv.writer leaves a lone CR unquoted, and readers take it for a
    line break: a row holding one is written fully quoted (the rare, slow path)."""
    plain = csv.writer(out, lineterminator="\n").writerow
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow
    for cells in chunk:
        (quoted if any("\r" in v for v in cells if v.__class__ is str) else plain)(cells)


def write_query(conn: Any, query: Any, out: TextIO) -> None:
    """A query's rows as CSV with its column labels as the header, formatted by the
    database: COPY ... TO STDOUT on PostgreSQL; on SQLite with every cell cast to text
    in SQL (store/sql.text_cells), the bare DB-API cursor's rows joined (write_cursor).
    The query's columns must be ready cells (text, integers, NULL), formula-guarded in
    SQL where they hold free text."""
    from resellctl.store.sql import copy_csv, text_cells  # SQLAlchemy: not for `--help`

    if conn.dialect.name == "postgresql":
        copy_csv(conn, query, out)
        return
    cursor = conn.execute(text_cells(query)).cursor  # an error leaves `out` empty
    write_cursor(cursor, out)


def write_sql(dialect: str, driver: Any, sql: str, params: dict[str, Any], out: TextIO) -> None:
    """write_query for SQL compiled ahead (domain/prepared.py, its SQLite cells text
    already) on a driver connection: the same output, without SQLAlchemy."""
    if dialect == "postgresql":
        from resellctl.store import copyout

        copyout.copy_csv(driver, sql, params, out)
        return
    cursor = driver.cursor()
    cursor.execute(sql, params)  # an error leaves `out` empty
    write_cursor(cursor, out)


def write_cursor(cursor: Any, out: TextIO, *, header: bool = True) -> None:
    """A DB-API cursor's rows (text cells) as CSV, after its column names unless not
    `header`. From SQLite into UTF-8 over a binary buffer (a file, stdout), the cells
    come as the UTF-8 bytes SQLite holds and are joined as such: no str is made for
    each of them (a fifth of the fetch's CPU, docs/performance.md, Subscriptions)."""
    from resellctl.store.copyout import fetched, utf8_buffer

    if header:
        out.write(",".join(column[0] for column in cursor.description) + "\n")
    raw = utf8_buffer(out)
    connection = getattr(cursor, "connection", None)
    if raw is None or not hasattr(connection, "text_factory"):
        write_rows(fetched(cursor), out)
        return
    out.flush()
    connection.text_factory = bytes
    try:
        _write_utf8_rows(fetched(cursor), raw)
    finally:
        connection.text_factory = str


def _write_utf8_rows(rows: Iterable[Sequence], raw: Any) -> None:
    """write_rows for cells of UTF-8 bytes, into a binary stream. Text that is not valid
    UTF-8 fails as the driver fails when it makes str of it (sqlite3's "Could not
    decode to UTF-8"), before anything of its chunk is written."""
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, CHUNK)):
        try:
            data = _joined(chunk, b",", b"\n", b'"', b"\r")
            if data is None:  # a cell to quote: csv.writer's way, on str
                text = io.StringIO()
                write_rows([tuple(cell.decode() if cell.__class__ is bytes else cell
                                  for cell in row) for row in chunk], text)
                data = text.getvalue().encode()
            elif not data.isascii():
                data.decode()  # only checks: ASCII (the usual chunk) is UTF-8 already
        except UnicodeDecodeError as exc:
            import sqlite3

            raise sqlite3.OperationalError(f"Could not decode to UTF-8: {exc}") from exc
        raw.write(data)
