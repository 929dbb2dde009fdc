"""`init --sample-data` benchmark: the README's first command, end to end.

Runs `resellctl init --admin-email you@example.com --sample-data` (table mode: the
dashboard is printed, to a pipe) into a fresh store, several times, and reports the
median and best wall time and CPU time (user + system) of the process. The target is
under 5 s on SQLite; PostgreSQL is reported too when a server URL is given.

Usage (from the project root, with the project installed in .venv):

    .venv/bin/python bench/sample_data.py                    # SQLite, 5 runs
    .venv/bin/python bench/sample_data.py --runs 9 \\
        --postgres postgresql://postgres@127.0.0.1:5432/postgres

Each PostgreSQL run gets a schema of its own (dropped afterwards). The exit code is
non-zero only when a run fails, never because a figure is over the target.
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import bench_env

COMMAND = ["init", "--admin-email", "you@example.com", "--sample-data"]


def entry_point() -> str:
    return str(Path(sys.executable).parent / "resellctl")


def run_once(url: str, workdir: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one `init --sample-data` into the store at `url`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([entry_point(), *COMMAND], env=bench_env(workdir, url),
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"init --sample-data exited {proc.returncode}: {proc.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def sqlite_runs(runs: int) -> list[tuple[float, float]]:
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            workdir = Path(folder)
            results.append(run_once(f"sqlite:///{workdir / 'sample.db'}", workdir))
    return results


def postgres_runs(base: str, runs: int) -> list[tuple[float, float]]:
    import psycopg

    results = []
    for _ in range(runs):
        schema = "bench_" + uuid.uuid4().hex[:10]
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            sep = "&" if "?" in base else "?"
            url = f"{base}{sep}options=-csearch_path%3D{schema}"
            with tempfile.TemporaryDirectory() as folder:
                results.append(run_once(url, Path(folder)))
        finally:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return results


def row(store: str, results: list[tuple[float, float]]) -> str:
    walls, cpus = [w for w, _ in results], [c for _, c in results]
    return (f"| {store} | {len(results)} | {statistics.median(walls):.2f} | {min(walls):.2f} "
            f"| {statistics.median(cpus):.2f} | {min(cpus):.2f} |")


def conditions() -> str:
    """The load and bench/import.py's CPU probe (a fixed pure-Python loop, best of 5, in
    ms): the machine's speed drifts, and these tell a slow moment from a slow command."""
    probe = importlib.import_module("import").cpu_probe()
    return f"load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs), CPU probe {probe} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (runs there too)")
    args = parser.parse_args()
    print(f"before: {conditions()}")
    print("| store | runs | wall median (s) | wall best (s) | CPU median (s) | CPU best (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(row("SQLite", sqlite_runs(args.runs)), flush=True)
    if args.postgres:
        print(row("PostgreSQL", postgres_runs(args.postgres, args.runs)), flush=True)
    print(f"after: {conditions()}")


if __name__ == "__main__":
    main()
