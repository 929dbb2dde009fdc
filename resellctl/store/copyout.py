"""Query results as the drivers give them, without SQLAlchemy: PostgreSQL's COPY ... TO
STDOUT read into a text file, a cursor's rows in batches. store/sql.py runs them for
SQLAlchemy queries; domain/subscription_csv.py for prepared SQL (domain/prepared.py) in a
process that never imports SQLAlchemy."""

from __future__ import annotations

import codecs
import contextlib
import functools
import itertools
from collections.abc import Iterator
from typing import Any, TextIO


def copy_csv(raw: Any, sql: str, params: Any, out: TextIO) -> None:
    """PostgreSQL formats the rows: COPY (sql) TO STDOUT as CSV with a header, on a
    psycopg connection.

    COPY takes no parameters, so psycopg binds them into the text client-side
    (ClientCursor.mogrify quotes and escapes each value). The rows are read with
    libpq's get_copy_data, one C call per row, and written in chunks. Waiting for
    the server happens here, in select(), not inside libpq: Ctrl-C is seen at
    once, even while the server waits on a lock, and the COPY is cancelled."""
    import psycopg
    from psycopg import pq

    sql = psycopg.ClientCursor(raw).mogrify(sql, params)
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
    """The rows into `out`: as the server's bytes into its binary buffer when both are
    UTF-8 (no str made and encoded again: 0.06 s of CPU per 67 MB), else as text."""
    raw = utf8_buffer(out) if codecs.lookup(encoding).name == "utf-8" else None
    if raw is not None:
        out.flush()
        write = raw.write
    else:
        def write(data: bytes) -> None:
            out.write(data.decode(encoding))
    get, chunk = pgconn.get_copy_data, []
    while True:
        size, data = get(1)  # without waiting: 0 means libpq has no whole row yet
        if size > 0:
            chunk.append(data)
            if len(chunk) == COPY_CHUNK:
                write(b"".join(chunk))
                chunk.clear()
        elif size == 0:
            _wait(pgconn)
        else:
            break
    write(b"".join(chunk))


def utf8_buffer(out: TextIO) -> Any:
    """The binary buffer under a text stream that writes UTF-8, else None."""
    buffer, encoding = getattr(out, "buffer", None), getattr(out, "encoding", None)
    if buffer is None or not encoding or codecs.lookup(encoding).name != "utf-8":
        return None
    return buffer


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


def fetched(cursor: Any, size: int = 2000) -> Iterator[tuple]:
    """A DB-API cursor's rows, fetched `size` at a time."""
    return itertools.chain.from_iterable(iter(functools.partial(cursor.fetchmany, size), []))
