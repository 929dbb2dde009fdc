"""CSV as resellctl writes it: "\n" line ends, spreadsheet-safe cells, chunked writes.

Used by every `-o csv` (through cli/output.py), by the portfolio export and by
`client import --errors-out`; the import reads the formula guard back with unguarded().
No third-party imports: `--help` stays fast.
"""

from __future__ import annotations

import csv
import errno
import io
import itertools
import marshal
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

from resellctl.domain import processes

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
    """Write rows of ready cells (str, int or None), a chunk at a time (csv.writer in C)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, CHUNK)):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(chunk)
        text = buffer.getvalue()
        if "\r" in text:
            _with_carriage_returns(chunk, out)
        else:
            out.write(text)


def _with_carriage_returns(chunk: list[Sequence], out: TextIO) -> None:
    """With "\n" line ends csv.writer leaves a lone CR unquoted, and readers take it for a
    line break: a row holding one is written fully quoted (the rare, slow path)."""
    plain = csv.writer(out, lineterminator="\n").writerow
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow
    for cells in chunk:
        (quoted if any("\r" in v for v in cells if v.__class__ is str) else plain)(cells)


def write_rows_beside(rows: Iterable[Sequence], out: TextIO) -> None:
    """write_rows, with the formatting done by a forked writer process when `out` is a real
    file and there is more than one chunk: this process keeps fetching while the child
    formats and writes (two cores). Cells must be str, int or None (sent by marshal)."""
    iterator = iter(rows)
    first = list(itertools.islice(iterator, CHUNK))
    descriptor = _file_descriptor(out)
    if len(first) < CHUNK or descriptor is None:
        write_rows(itertools.chain(first, iterator), out)
        return
    out.flush()
    forked = processes.fork_with_pipe(child_writes=False)
    if forked is None:
        write_rows(itertools.chain(first, iterator), out)
        return
    pid, end = forked
    if pid == 0:  # the writer: formats what it receives, then leaves without clean-up
        os._exit(_write_received(end, out))
    _send_chunks(itertools.chain((first,), _chunks(iterator)), end, pid)


def write_query(conn: Any, query: Any, out: TextIO) -> None:
    """A query's rows as CSV with its column labels as the header, formatted by the
    database: COPY ... TO STDOUT on PostgreSQL; on SQLite the bare DB-API cursor, written
    with write_rows_beside. The query's columns must be ready cells (text, integers,
    NULL), formula-guarded in SQL where they hold free text."""
    from resellctl.store.sql import copy_csv, raw_rows  # SQLAlchemy: not for `--help`

    if conn.dialect.name == "postgresql":
        copy_csv(conn, query, out)
        return
    rows = raw_rows(conn, query)  # runs the query: an error leaves `out` empty
    out.write(",".join(column.name for column in query.selected_columns) + "\n")
    write_rows_beside(rows, out)


def write_sql(dialect: str, driver: Any, sql: str, params: dict[str, Any], out: TextIO) -> None:
    """write_query for SQL compiled ahead (domain/prepared.py) on a driver connection:
    the same output, without SQLAlchemy."""
    from resellctl.store import copyout

    if dialect == "postgresql":
        copyout.copy_csv(driver, sql, params, out)
        return
    cursor = driver.cursor()
    cursor.execute(sql, params)  # an error leaves `out` empty
    out.write(",".join(column[0] for column in cursor.description) + "\n")
    write_rows_beside(copyout.fetched(cursor), out)


def _file_descriptor(out: TextIO) -> int | None:
    try:
        return out.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None


def _chunks(iterator: Iterator[Sequence]) -> Iterator[list[Sequence]]:
    while chunk := list(itertools.islice(iterator, CHUNK)):
        yield chunk


BROKEN_PIPE = 32  # the writer's exit code when its reader went away


def _send_chunks(chunks: Iterable[list[Sequence]], write_end: int, pid: int) -> None:
    """Send length-prefixed marshalled chunks; raise what stopped the writer, if anything."""
    try:
        with open(write_end, "wb", buffering=processes.PIPE_BUFFER) as pipe:
            for chunk in chunks:
                data = marshal.dumps(chunk)
                pipe.write(len(data).to_bytes(8, "little"))
                pipe.write(data)
    except BrokenPipeError:
        pass  # the writer stopped early: its exit code says why
    except BaseException:
        processes.reap(pid)
        raise
    code = processes.reap(pid, stop=False)
    if code == BROKEN_PIPE:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")
    if code != 0:
        raise OSError(f"the CSV writer process failed (exit {code})")


def _write_received(read_end: int, out: TextIO) -> int:
    try:
        with open(read_end, "rb", buffering=processes.PIPE_BUFFER) as source:
            while head := source.read(8):
                write_rows(marshal.loads(source.read(int.from_bytes(head, "little"))), out)
        out.flush()
    except BrokenPipeError:
        return BROKEN_PIPE
    except BaseException:  # noqa: BLE001 - Ctrl-C, a full disk...: the parent reports it
        return 1
    return 0
