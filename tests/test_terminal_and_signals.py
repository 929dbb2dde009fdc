"""The import's progress bar (stderr, no thread at fork time), unreadable CSV, and Ctrl-C
while a PostgreSQL export waits on the server."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from test_entrypoint import ADMIN, _blocked_by, _wait_until, clean_env, entry_point
from test_import_blocks import acme, import_, pool, stored, write_big  # noqa: F401

from resellctl.cli import client as client_cli
from resellctl.domain import importer, processes

HUGE = "x" * 200_000  # over the csv module's 131,072-character field limit


# ---------------------------------------------------------------- the progress bar

def test_no_progress_thread_runs_when_the_import_forks(monkeypatch, acme, tmp_path,  # noqa: ANN001, F811
                                                        store_url) -> None:
    """Forking a process that runs threads is unsafe (a DeprecationWarning on 3.12+):
    the progress bar redraws from the import's own thread instead of a refresh thread."""
    monkeypatch.setattr(client_cli, "is_terminal", lambda stream=None: True)
    before = set(threading.enumerate())
    at_fork: list[set] = []
    real_fork = processes.fork_with_pipe

    def watched(**kw):  # noqa: ANN003, ANN202
        at_fork.append(set(threading.enumerate()) - before)
        return real_fork(**kw)

    monkeypatch.setattr(processes, "fork_with_pipe", watched)
    source = tmp_path / "big.csv"
    write_big(source, importer.BLOCK * 2 + 3)
    result = import_(acme, source)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["created"] == importer.BLOCK * 2 + 3
    if store_url.startswith("sqlite"):
        assert at_fork == [set()]
    else:
        assert at_fork == []  # PostgreSQL imports read in-process


def import_on_a_terminal(tmp_path, source, *args: str) -> tuple[int, bytes, bytes]:  # noqa: ANN001
    """`client import SOURCE ARGS -o json` in a fresh store (direct clients), with stderr
    on a pseudo-terminal and stdout on a pipe: (exit code, stdout, what the terminal got)."""
    env = clean_env(tmp_path, RESELLCTL_ACTOR=ADMIN, TERM="xterm")
    env.pop("NO_COLOR")
    init = subprocess.run([entry_point(), "init", "--admin-email", ADMIN], env=env,
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    seen = bytearray()
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([entry_point(), "client", "import", str(source), *args,
                                 "-o", "json"], env=env, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        reader = threading.Thread(target=_drain, args=(master, seen), daemon=True)
        reader.start()
        out, _ = proc.communicate(timeout=60)
        reader.join(10)
    finally:
        os.close(master)
    return proc.returncode, out, bytes(seen)


def _drain(fd: int, into: bytearray) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other end is closed
            return
        if not data:
            return
        into.extend(data)


def test_the_progress_bar_goes_to_a_terminal_on_stderr_never_to_stdout(tmp_path) -> None:
    source = tmp_path / "big.csv"  # direct clients: no partner support, no licences
    write_big(source, importer.BLOCK * 2 + 3, columns=["name", "owner_name", "owner_email"])
    code, out, seen = import_on_a_terminal(tmp_path, source)
    assert code == 0, seen.decode(errors="replace")[-3000:]
    assert json.loads(out)["created"] == importer.BLOCK * 2 + 3  # stdout: the summary only
    assert b"importing" in seen and b"rows" in seen
    assert re.search(rb"\b\d{1,3}%", seen)  # a bar: the share of the file read so far
    assert b"Traceback" not in seen


def test_a_partial_imports_summary_stays_on_stdout_beside_the_bar(tmp_path) -> None:
    """Exit 9 prints its summary while the bar is still up: it must still go to stdout."""
    source = tmp_path / "mixed.csv"
    write_big(source, importer.BLOCK + 3, columns=["name", "owner_name", "owner_email"],
              changes={5: {"owner_email": "not-an-address"}})
    code, out, seen = import_on_a_terminal(tmp_path, source, "--continue-on-error")
    assert code == 9, seen.decode(errors="replace")[-3000:]
    summary = json.loads(out)
    assert (summary["created"], summary["failed"]) == (importer.BLOCK + 2, 1)
    assert b'"created"' not in seen  # the summary is not on the terminal's stderr


# ---------------------------------------------------------------- unreadable CSV

@pytest.mark.parametrize("where", [2, importer.BLOCK * 2 + 10])
@pytest.mark.parametrize("mode", [(), ("--continue-on-error",)])
def test_a_cell_over_the_csv_field_limit_is_invalid_input(acme, tmp_path, where,  # noqa: ANN001, F811
                                                           mode) -> None:
    """Exit 5 naming the line, nothing written, even after whole chunks went to the store
    and when the reader process (SQLite) is the one that meets it."""
    source = tmp_path / "huge.csv"
    write_big(source, importer.BLOCK * 3, changes={where: {"location": HUGE}})
    result = import_(acme, source, *mode)
    assert result.exit_code == 5, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    error = json.loads(result.stderr.strip().splitlines()[-1])["error"]
    assert error["code"] == "invalid_csv"
    assert f"line {where} " in error["message"] and "field limit" in error["message"]
    assert stored(acme) == {}
    assert pool(acme) == (20000, 0)


# ---------------------------------------------------------------- Ctrl-C during COPY TO

def test_ctrl_c_while_a_postgresql_export_waits_on_a_lock(empty_url, tmp_path) -> None:
    """SIGINT reaches the export while the server still waits (no row sent yet): exit 130
    at once, not when the lock goes; the server's query is cancelled."""
    if not empty_url.startswith("postgresql"):
        pytest.skip("PostgreSQL-only: the export waits in COPY ... TO STDOUT")
    from sqlalchemy import text

    from resellctl.store.engine import make_engine

    env = clean_env(tmp_path, RESELLCTL_DATABASE_URL=empty_url, RESELLCTL_ACTOR=ADMIN)
    assert subprocess.run([entry_point(), "init", "--admin-email", ADMIN], env=env,
                          capture_output=True, timeout=60).returncode == 0
    ok_create = subprocess.run([entry_point(), "client", "create", "--name", "Held Co",
                                "--owner-name", "O", "--owner-email", "o@held.example",
                                "-o", "json"], env=env, capture_output=True, timeout=60)
    assert ok_create.returncode == 0, ok_create.stderr
    engine = make_engine(empty_url)
    holder = engine.connect()
    try:
        holder.begin()
        holder.execute(text("LOCK TABLE subscription IN ACCESS EXCLUSIVE MODE"))
        proc = subprocess.Popen([entry_point(), "client", "list", "-o", "csv"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_until(lambda: proc.poll() is not None or _blocked_by(holder))
            assert proc.poll() is None, proc.communicate()
            proc.send_signal(signal.SIGINT)
            started = time.monotonic()
            out, err = proc.communicate(timeout=30)  # the lock is still held
            waited = time.monotonic() - started
            assert not _blocked_by(holder)  # the COPY was cancelled on the server
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        holder.rollback()
    finally:
        holder.close()
        engine.dispose()
    assert proc.returncode == 130, err
    assert waited < 10, waited
    assert out == "" and "Traceback" not in err
    listed = subprocess.run([entry_point(), "client", "list", "-o", "csv"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "Held Co" in listed.stdout


# ---------------------------------------------------------------- a closed pipe

@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson", "table"])
def test_output_cut_off_by_head_exits_quietly(run, store_url, tmp_path, fmt) -> None:  # noqa: ANN001
    """`resellctl client list | head -1`: exit 141 (128 + SIGPIPE, like any command a
    shell sees cut off), nothing on stderr, and the store untouched."""
    source = tmp_path / "many.csv"
    write_big(source, importer.BLOCK + 500, columns=["name", "owner_name", "owner_email"])
    assert run("client", "import", str(source), "-o", "json").exit_code == 0
    env = clean_env(tmp_path, RESELLCTL_DATABASE_URL=store_url, RESELLCTL_ACTOR=ADMIN)
    proc = subprocess.Popen([entry_point(), "client", "list", "-o", fmt], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does after its line
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141, err
    assert first and err == b""
    assert run("client", "list", "-o", "csv").stdout.count("\n") == importer.BLOCK + 501


def test_psycopg_warnings_never_reach_the_users_stderr(tmp_path) -> None:  # noqa: ANN001
    """psycopg logs what it ignores while a Ctrl-C unwinds ("error ignored terminating
    <Pipeline>"); a PostgreSQL store keeps those lines off stderr (SQLite never loads it)."""
    code = ("import logging\n"
            "from resellctl.store.engine import make_engine\n"
            "make_engine('postgresql://u@127.0.0.1:1/x')\n"
            "logging.getLogger('psycopg').warning('error ignored terminating <Pipeline>')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    bare = subprocess.run([sys.executable, "-c", code.replace("make_engine('", "('")],
                          capture_output=True, text=True, timeout=60)
    assert "error ignored" in bare.stderr  # what the user would have seen
