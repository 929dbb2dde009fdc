"""Small dialect-aware SQL expressions, so hot read paths format in the database."""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Iterator
from typing import Any, TextIO

from sqlalchemy import String, case, func, literal_column, null, type_coerce
from sqlalchemy.engine import Connection


def iso_instant(column: Any, dialect: str) -> Any:
    """An instant column as ISO 8601 UTC text with Z (NULL stays NULL)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column),
                            literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"))
    # SQLite keeps instants as SQLAlchemy writes them, UTC `2027-01-31 09:30:00.000000`:
    # the date, T, the time to the second, Z. What strftime('%Y-%m-%dT%H:%M:%SZ') gives,
    # without parsing and formatting each one (0.7 against 0.35 µs, docs/performance.md)
    text = type_coerce(column, String)
    return (func.substr(text, 1, 10) + literal_column("'T'", String)
            + func.substr(text, 12, 8) + literal_column("'Z'", String))


def iso_date(column: Any, dialect: str) -> Any:
    """A date column as ISO 8601 text, 2027-01-31 (NULL stays NULL)."""
    if dialect == "postgresql":
        return func.to_char(column, literal_column("'YYYY-MM-DD'"))
    return type_coerce(column, String)  # SQLite keeps dates as that text


def spreadsheet_safe(column: Any, formula_start: tuple[str, ...]) -> Any:
    """A text column with a leading quote added where a spreadsheet would see a formula."""
    return case((func.substr(column, 1, 1).in_(formula_start),
                 literal_column("''''", String) + column), else_=column)


def true_false(column: Any) -> Any:
    """A boolean column as the text true/false (NULL stays NULL)."""
    return case((column.is_(None), null()), (column, "true"), else_="false")


def copy_csv(conn: Connection, query: Any, out: TextIO) -> None:
    """PostgreSQL formats the rows: COPY (query) TO STDOUT as CSV with a header.

    COPY takes no parameters, so psycopg binds them into the text client-side
    (ClientCursor.mogrify quotes and escapes each value). The rows are read with
    libpq's get_copy_data, one C call per row, and written in chunks. Waiting for
    the server happens here, in select(), not inside libpq: Ctrl-C is seen at
    once, even while the server waits on a lock, and the COPY is cancelled."""
    import psycopg
    from psycopg import pq

    raw = conn.connection.dbapi_connection
    compiled = query.compile(dialect=conn.dialect,
                             compile_kwargs={"render_postcompile": True})
    sql = psycopg.ClientCursor(raw).mogrify(str(compiled), compiled.params)
    pgconn, encoding = raw.pgconn, raw.info.encoding
    try:
        pgconn.send_query(f"COPY ({sql}) TO STDOUT (FORMAT csv, HEADER)".encode(encoding))
        while pgconn.flush():
            _wait(pgconn, write=True)
        _expect(pgconn, _result(pgconn), pq.ExecStatus.COPY_OUT, encoding)
        _copy_out(pgconn, encoding, out)
    except BaseException:
        _abandon(raw)  # a database error, a closed pipe, Ctrl-C...: stop the COPY
        raise
    while (result := _result(pgconn)) is not None:
        _expect(pgconn, result, pq.ExecStatus.COMMAND_OK, encoding)


def _wait(pgconn: Any, *, write: bool = False) -> None:
    """Until the server's socket is ready; a signal (Ctrl-C) interrupts the wait."""
    import select

    socket = pgconn.socket
    select.select([] if write else [socket], [socket] if write else [], [])
    if not write:
        pgconn.consume_input()


def _result(pgconn: Any) -> Any:
    """The next result (None after the last), waited for in select()."""
    pgconn.consume_input()
    while pgconn.is_busy():
        _wait(pgconn)
    return pgconn.get_result()


def _copy_out(pgconn: Any, encoding: str, out: TextIO) -> None:
    get, chunk = pgconn.get_copy_data, []
    while True:
        size, data = get(1)  # without waiting: 0 means libpq has no whole row yet
        if size > 0:
            chunk.append(data)
            if len(chunk) == COPY_CHUNK:
                out.write(b"".join(chunk).decode(encoding))
                chunk.clear()
        elif size == 0:
            _wait(pgconn)
        else:
            break
    out.write(b"".join(chunk).decode(encoding))


def _abandon(raw: Any) -> None:
    """Cancel a COPY TO in progress and read it to its end, so that the connection can
    roll back (and go back to the pool) instead of staying busy."""
    with contextlib.suppress(Exception):
        raw.cancel_safe() if hasattr(raw, "cancel_safe") else raw.cancel()
    pgconn = raw.pgconn
    with contextlib.suppress(Exception):  # raises once the COPY is over: nothing to drain
        while pgconn.get_copy_data(0)[0] >= 0:
            pass
    with contextlib.suppress(Exception):
        while pgconn.get_result() is not None:
            pass


COPY_CHUNK = 2000


def _expect(pgconn: Any, result: Any, status: Any, encoding: str) -> None:
    """Raise the server's error (a psycopg error with its SQLSTATE, which the store
    translates like any other) unless the result has the expected status."""
    import psycopg

    if result.status == status:
        return
    while pgconn.get_result() is not None:
        pass  # drain, so that the connection can roll back
    if result.status == psycopg.pq.ExecStatus.FATAL_ERROR:
        raise psycopg.errors.error_from_result(result, encoding=encoding)
    raise psycopg.DatabaseError(f"COPY failed ({result.status.name})")


def raw_rows(conn: Connection, query: Any, size: int = 2000) -> Iterator[tuple]:
    """The query's rows straight from the DB-API cursor, without SQLAlchemy's per-row
    processing (for queries whose columns need none: text, integers, NULL)."""
    cursor = conn.execute(query).cursor
    return itertools.chain.from_iterable(iter(functools.partial(cursor.fetchmany, size), []))
