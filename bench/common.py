"""Shared by the bench scripts (run as `python bench/NAME.py`, so this imports as `common`)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def bench_env(workdir: Path, url: str) -> dict[str, str]:
    """An environment in which everything resellctl reads points into `workdir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESELLCTL_")}
    home = workdir / "home"
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "RESELLCTL_CONFIG": str(workdir / "config.toml"),
        "RESELLCTL_DATABASE_URL": url,
        "NO_COLOR": "1",
        "COLUMNS": "100",
    })
    # Like a user's shell: .pyc files get cached, stdout is block-buffered.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONUNBUFFERED", None)
    return env


class BenchError(RuntimeError):
    """A command failed or a check found a wrong figure (never a missed target)."""


@dataclass
class Sample:
    """One finished process: wall seconds, CPU seconds (user + sys), its stdout."""

    wall: float
    cpu: float
    stdout: str


def run(argv: list[str], env: dict[str, str] | None = None, *,
        keep_output: bool = True) -> Sample:
    """Run one process to the end (stdout kept, or sent to /dev/null); raises BenchError
    when it fails. os.wait4 gives this child's own rusage (what `/usr/bin/time` prints)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stderr=err,
                                stdout=out if keep_output else subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise BenchError(f"`{' '.join(argv[:4])} …` exited "
                             f"{os.waitstatus_to_exitcode(status)}: "
                             f"{err.read().decode(errors='replace').strip()[-2000:]}")
        out.seek(0)
        return Sample(wall, usage.ru_utime + usage.ru_stime, out.read().decode())


def entry_point() -> str:
    """The installed `resellctl` next to this interpreter."""
    script = Path(sys.executable).with_name("resellctl")
    if not script.exists():
        raise BenchError(f"the installed entry point is missing: {script}; "
                         "install the project first: .venv/bin/pip install -e .")
    return str(script)


# ---------------------------------------------------------------- PostgreSQL and the machine

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_base_url() -> str:
    """The PostgreSQL server the benches use (the tests' one by default)."""
    return os.environ.get("RESELLCTL_TEST_DATABASE_URL", PG_DEFAULT)


def pg_admin(sql: str, url: str | None = None) -> None:
    """One statement in autocommit (CREATE/DROP DATABASE, VACUUM, ANALYZE)."""
    import psycopg

    with psycopg.connect(url or pg_base_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def pg_reachable(url: str | None = None) -> str | None:
    """None when PostgreSQL answers, else why not (the first line of the error)."""
    try:
        pg_admin("SELECT 1", url)
    except Exception as exc:  # noqa: BLE001 - any failure means: skip PostgreSQL
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


class BenchStore:
    """The URL of a fresh, empty store: a SQLite file in `tmp`, or a PostgreSQL database
    `resellctl_bench_<name>_<pid>` of its own, dropped at the end."""

    def __init__(self, backend: str, tmp: Path, name: str) -> None:
        self.backend, self.tmp = backend, tmp
        self.database = f"resellctl_bench_{name}_{os.getpid()}"

    def __enter__(self) -> str:
        from urllib.parse import urlsplit

        if self.backend == "sqlite":
            return f"sqlite:///{self.tmp / 'bench.db'}"
        pg_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        pg_admin(f'CREATE DATABASE "{self.database}"')
        return urlsplit(pg_base_url())._replace(path=f"/{self.database}").geturl()

    def __exit__(self, *exc: object) -> None:
        if self.backend == "postgresql":
            pg_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def cpu_probe() -> float:
    """Milliseconds for a fixed pure-Python loop (best of 5): how fast this CPU is now.

    On a shared or virtual machine the same work can take twice as long from one
    minute to the next; the probe at start and end tells a slow moment from a
    slow resellctl, and same-run baseline ratios cancel it out.
    """
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        sum(i * i for i in range(1_000_000))
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 1)
