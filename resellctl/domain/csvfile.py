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


def _joined(chunk: list[Sequence]) -> str | None:
    """The chunk as CSV lines by joining its cells, or None when that would not be what
    csv.writer writes: a cell that is not text (TypeError), or one that needs quoting,
    found by counting separators over the whole text (a few C scans per chunk)."""
    width = len(chunk[0])
    if width < 2:  # csv.writer writes a lone empty cell as ""
        return None
    try:
        text = "\n".join(map(",".join, chunk))
    except TypeError:
        return None
    if (text.count(",") != (width - 1) * len(chunk) or text.count("\n") != len(chunk) - 1
            or '"' in text or "\r" in text):
        return None
    return text + "\n"


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
    in SQL (store/sql.text_cells), the bare DB-API cursor's rows joined by write_rows.
    The query's columns must be ready cells (text, integers, NULL), formula-guarded in
    SQL where they hold free text."""
    from resellctl.store.sql import copy_csv, raw_rows, text_cells  # SQLAlchemy: not for `--help`

    if conn.dialect.name == "postgresql":
        copy_csv(conn, query, out)
        return
    rows = raw_rows(conn, text_cells(query))  # runs the query: an error leaves `out` empty
    out.write(",".join(column.name for column in query.selected_columns) + "\n")
    write_rows(rows, out)


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
    `header`."""
    from resellctl.store.copyout import fetched

    if header:
        out.write(",".join(column[0] for column in cursor.description) + "\n")
    write_rows(fetched(cursor), out)
