"""A long sorted SQLite export on two cores: this process writes the first half of the
rows while a helper process formats the second half into a temporary file, both reading
the same snapshot of the store; the file follows the first half out.

Why a helper process: on SQLite the export's cost is SQLite's sort and the driver making
Python strings of 5 million cells, all in one thread (docs/performance.md,
Subscriptions). The helper is a fresh interpreter (`python -I -S` running this file,
standard library only), never a fork: a store connection must not cross a fork, and a
`serve` worker runs threads.

One snapshot: SQLite has no way to hand a read snapshot to another process, so the
store's write lock is taken (BEGIN IMMEDIATE on a connection of its own) while both
processes start their read transactions, then given back: no commit can fall between
the two, and writers wait for a few tens of milliseconds at most. When the lock cannot
be had at once (a busy writer, a read-only store) or the helper cannot start, nothing
is split: write() says so and the caller writes the rows itself.

Run as a script (`python -I -S csvhalves.py`) this file is the helper: a JSON job on
stdin (the store's path, the SQL, its parameters, the file descriptor to write to); on
stdout `ready` once its snapshot is open, then `done`, or a JSON error.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from typing import TextIO

if __name__ == "__main__":  # the helper, run without site-packages: the package by path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))

from resellctl.domain.csvfile import write_cursor  # noqa: E402
from resellctl.store.copyout import utf8_buffer  # noqa: E402

LOCK_WAIT_S = 0.2  # a writer holding the lock longer: no split
START_WAIT_S = 2.0  # for the helper's `ready` (writers wait meanwhile); later: no split
PIN = "SELECT count(*) FROM sqlite_master"  # a read: opens a transaction's snapshot


def write(conn: sqlite3.Connection, sql: str, first: dict, second: dict,
          out: TextIO) -> bool:
    """Write the rows of `sql` with the parameters `first`, then with `second`, as CSV
    with a header (csvfile.write_cursor), the second half formatted by a helper
    process. `conn` is in a read transaction, which this restarts on the shared
    snapshot. False, with nothing written, when the export cannot be split (`out` is
    not UTF-8 text over a binary buffer, the store is in memory, ...): the caller then
    writes it alone."""
    raw = utf8_buffer(out)  # not UTF-8, the helper's half would differ (a second BOM...)
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    if raw is None or not path or os.name != "posix":  # select() on pipes, pass_fds
        return False
    try:
        spill = tempfile.TemporaryFile()
    except OSError:  # no temporary folder to write to
        return False
    with spill:
        helper = _start(spill.fileno())
        if helper is None:
            return False
        try:
            if not _share_snapshot(conn, path, helper, {
                    "path": path, "sql": sql, "params": second, "fd": spill.fileno(),
                    "errors": out.errors}):
                _stop(helper)
                return False
            write_cursor(conn.execute(sql, first), out)
            _finish(helper)
        except BaseException:
            _stop(helper)
            raise
        out.flush()
        spill.seek(0)
        shutil.copyfileobj(spill, raw, 1 << 20)
        raw.flush()
    return True


def _start(descriptor: int) -> subprocess.Popen | None:
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", __file__], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, pass_fds=(descriptor,))
    except OSError:  # no interpreter to run, no process to spare
        return None


def _share_snapshot(conn: sqlite3.Connection, path: str, helper: subprocess.Popen,
                    job: dict) -> bool:
    """Hold the write lock while this connection and the helper open their snapshots."""
    lock = sqlite3.connect(path, timeout=LOCK_WAIT_S, isolation_level=None)
    try:
        try:
            lock.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:  # busy, read-only
            return False
        conn.execute("ROLLBACK")
        conn.execute("BEGIN")
        conn.execute(PIN).fetchall()
        try:
            helper.stdin.write(json.dumps(job).encode() + b"\n")
            helper.stdin.close()
        except OSError:  # the helper is gone already
            return False
        return _message(helper) == "ready"
    finally:
        lock.close()  # rolls back: the lock is free again


def _message(helper: subprocess.Popen) -> str:
    """The helper's next line ('' once it has left)."""
    import select

    ready, _, _ = select.select([helper.stdout], [], [], START_WAIT_S)
    return helper.stdout.readline().decode().strip() if ready else ""


def _finish(helper: subprocess.Popen) -> None:
    """Wait for the helper's half; raise its error as the driver's exception."""
    line = helper.stdout.read().decode().strip()
    code = helper.wait()
    if line == "done" and code == 0:
        return
    try:
        error = json.loads(line)
    except ValueError:
        raise OSError(f"the CSV helper process failed (exit {code})") from None
    kind = getattr(sqlite3, error["kind"], None)
    if isinstance(kind, type) and issubclass(kind, sqlite3.Error):
        raise kind(error["message"])
    raise OSError(error["message"])


def _stop(helper: subprocess.Popen) -> None:
    with contextlib.suppress(OSError):
        helper.kill()
    helper.wait()
    for stream in (helper.stdin, helper.stdout):
        with contextlib.suppress(OSError):
            stream.close()


# ---------------------------------------------------------------- the helper

def _help() -> int:
    """The helper: open a snapshot, say `ready`, write the job's rows, say `done`."""
    job = json.loads(sys.stdin.readline())
    say = sys.stdout.buffer
    try:
        conn = sqlite3.connect(job["path"], isolation_level=None, timeout=30)
        conn.execute("BEGIN")
        conn.execute(PIN).fetchall()
        say.write(b"ready\n")
        say.flush()
        with open(job["fd"], "w", encoding="utf-8", errors=job["errors"],
                  newline="") as spill:
            write_cursor(conn.execute(job["sql"], job["params"]), spill, header=False)
    except Exception as exc:  # noqa: BLE001 - every error goes back to the parent
        say.write(json.dumps({"kind": type(exc).__name__, "message": str(exc)}).encode())
        return 1
    say.write(b"done\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(_help())
