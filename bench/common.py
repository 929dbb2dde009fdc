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
