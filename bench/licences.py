"""Licence-take throughput: N processes contending for one reseller's pool.

Each worker process opens one long-lived Store and loops, one write transaction per
take through the chokepoint (`resellctl.domain.licenses.take`), for a fixed
duration. All workers hit the SAME reseller row, so this measures the locked path
(SQLite: BEGIN IMMEDIATE; PostgreSQL: the conditional UPDATE's row lock).

In the same run, on the same store and processes, a baseline loop does the
cheapest possible write transaction (`SELECT 1` inside `store.write()`), so the
ratio take/baseline shows what the take itself costs on top of the transaction.
The pool is sized so every take succeeds; afterwards `license_used` must equal the
number of takes reported (no lost update). A final phase gives a small pool and
more attempts than licences: exactly `pool` takes succeed, never more (no oversell).

Usage (from the project root):

    .venv/bin/python bench/licences.py                       # both backends, markdown
    .venv/bin/python bench/licences.py --runs 5 --duration 3 --json
    .venv/bin/python bench/licences.py --backend sqlite

PostgreSQL comes from RESELLCTL_TEST_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/postgres); the bench works in a schema of its
own, dropped at the end, with the server's own durability settings. The exit code
is non-zero only when something breaks (a crash, an oversell, a lost update),
never because a throughput target is missed: timings vary between machines.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ADMIN = "bench@vendor.example"
OWNER = "owner@bench.example"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGETS = {"sqlite": 1000, "postgresql": 1000, "postgresql-async": 1000}  # takes per second
BIG_POOL = 2_000_000_000  # fits PostgreSQL's integer; never runs out during the bench
SMALL_POOL = 100  # the oversell phase: 4 attempts per licence, spread over the workers


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------- worker (child process)

def worker(url: str, pipe) -> None:  # noqa: ANN001
    """One process, one long-lived Store; runs the jobs the parent sends until None."""
    from sqlalchemy import text

    from resellctl.domain import licenses
    from resellctl.domain.errors import Insufficient
    from resellctl.store.engine import Store

    store = Store(url)
    with store.read() as conn:  # connect and check the schema before any timing
        conn.execute(text("SELECT 1"))
    select_one = text("SELECT 1")
    pipe.send("ready")
    while (job := pipe.recv()) is not None:
        mode, reseller_id, duration, limit = job
        done = refused = 0
        start = time.perf_counter()
        end = start + duration
        try:
            while time.perf_counter() < end and done + refused < limit:
                try:
                    with store.write() as conn:
                        if mode == "take":
                            licenses.take(conn, reseller_id, 1)
                        else:
                            conn.execute(select_one)
                    done += 1
                except Insufficient:
                    refused += 1
            pipe.send(("ok", done, refused, time.perf_counter() - start))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which stops
            pipe.send(("error", f"{type(exc).__name__}: {exc}", 0, 0.0))
    store.dispose()


class Workers:
    """N spawned processes, each with its own Store for `url`."""

    def __init__(self, url: str, count: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes, self.procs = [], []
        for _ in range(count):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker, args=(url, child), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)
        for pipe in self.pipes:
            if not pipe.poll(120) or pipe.recv() != "ready":
                raise BenchError("a worker did not start")

    def run(self, mode: str, reseller_id: int, duration: float,
            limit: int = 10**12) -> tuple[int, int, float]:
        """All workers at once; returns (done, refused, wall seconds)."""
        start = time.perf_counter()
        for pipe in self.pipes:
            pipe.send((mode, reseller_id, duration, limit))
        results = [pipe.recv() for pipe in self.pipes]
        wall = time.perf_counter() - start
        errors = [r[1] for r in results if r[0] != "ok"]
        if errors:
            raise BenchError(f"{mode}: {errors[0]}")
        return sum(r[1] for r in results), sum(r[2] for r in results), wall

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for proc in self.procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()


# ---------------------------------------------------------------- stores (parent)

def pg_base_url() -> str:
    return os.environ.get("RESELLCTL_TEST_DATABASE_URL", PG_DEFAULT)


class BenchStore:
    """A fresh store for one backend: a temporary SQLite file, or a PostgreSQL schema."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.tmp: tempfile.TemporaryDirectory | None = None
        self.schema: str | None = None

    def __enter__(self) -> str:
        from resellctl.domain import setup
        from resellctl.store.engine import Store

        if self.backend == "sqlite":
            self.tmp = tempfile.TemporaryDirectory(prefix="resellctl-bench-")
            self.url = f"sqlite:///{Path(self.tmp.name) / 'bench.db'}"
        else:
            import psycopg

            self.schema = "bench_" + uuid.uuid4().hex[:12]
            with psycopg.connect(pg_base_url(), autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE SCHEMA "{self.schema}"')
            base = pg_base_url()
            self.url = (f"{base}{'&' if '?' in base else '?'}"
                        f"options=-csearch_path%3D{self.schema}")
            if self.backend == "postgresql-async":  # diagnostic: no WAL flush at commit
                self.url += "%20-csynchronous_commit%3Doff"
        store = Store(self.url, check_schema=False)
        setup.init(store, ADMIN, "Bench Admin")
        store.dispose()
        return self.url

    def __exit__(self, *exc: object) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()
        if self.schema is not None:
            import psycopg

            with psycopg.connect(pg_base_url(), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{self.schema}" CASCADE')


def make_reseller(url: str, slug: str, licences: int) -> int:
    from sqlalchemy import select

    from resellctl.domain import resellers, users
    from resellctl.domain.access import RESELLER, USER
    from resellctl.domain.context import Ctx
    from resellctl.store.engine import Store

    ctx = Ctx(Store(url), ADMIN)
    try:
        with ctx.store.read() as conn:
            has_owner = conn.execute(select(USER.c.id).where(USER.c.email == OWNER)).first()
        if not has_owner:
            users.create_user(ctx, OWNER)
        resellers.create(ctx, slug, slug.title(), OWNER, licenses=licences)
        with ctx.store.read() as conn:
            return conn.execute(select(RESELLER.c.id).where(RESELLER.c.slug == slug)).scalar_one()
    finally:
        ctx.store.dispose()


def pool_of(url: str, reseller_id: int) -> tuple[int, int]:
    from sqlalchemy import select

    from resellctl.domain.access import RESELLER
    from resellctl.store.engine import Store

    store = Store(url)
    try:
        with store.read() as conn:
            row = conn.execute(select(RESELLER.c.license_count, RESELLER.c.license_used)
                               .where(RESELLER.c.id == reseller_id)).one()
            return row.license_count, row.license_used
    finally:
        store.dispose()


def server_version(url: str) -> str:
    from sqlalchemy import text

    from resellctl.store.engine import Store

    store = Store(url)
    try:
        with store.read() as conn:
            if store.dialect == "sqlite":
                return "SQLite " + conn.execute(text("SELECT sqlite_version()")).scalar()
            version = conn.execute(text("SHOW server_version")).scalar()
            sync = conn.execute(text("SHOW synchronous_commit")).scalar()
            return f"PostgreSQL {version} (synchronous_commit={sync})"
    finally:
        store.dispose()


# ---------------------------------------------------------------- measuring

def bench_backend(backend: str, procs: int, runs: int, duration: float) -> dict:
    with BenchStore(backend) as url:
        big = make_reseller(url, "bench", BIG_POOL)
        small = make_reseller(url, "small", SMALL_POOL)
        workers = Workers(url, procs)
        try:
            workers.run("take", big, 0.3)  # warm up: caches, pool, the planner
            workers.run("baseline", big, 0.3)
            _, used_before = pool_of(url, big)
            takes, baselines, taken = [], [], 0
            for _ in range(runs):  # interleaved, so both see the same machine load
                done, refused, wall = workers.run("baseline", big, duration)
                baselines.append(done / wall)
                done, refused, wall = workers.run("take", big, duration)
                if refused:
                    raise BenchError(f"{backend}: {refused} takes refused from a huge pool")
                takes.append(done / wall)
                taken += done
            _, used_after = pool_of(url, big)
            if used_after - used_before != taken:
                raise BenchError(f"{backend}: {taken} takes reported, license_used moved by "
                                 f"{used_after - used_before} (lost update)")
            attempts = -(-4 * SMALL_POOL // procs)  # per worker
            done, refused, _ = workers.run("take", small, 60.0, limit=attempts)
            count, used = pool_of(url, small)
        finally:
            workers.close()
        version = server_version(url)
    oversold = max(0, used - count) + max(0, done - SMALL_POOL)
    result = {
        "backend": backend, "server": version, "processes": procs, "runs": runs,
        "duration_s": duration,
        "takes_per_s": round(statistics.median(takes)),
        "takes_per_s_runs": [round(x) for x in takes],
        "baseline_tx_per_s": round(statistics.median(baselines)),
        "baseline_tx_per_s_runs": [round(x) for x in baselines],
        "ratio": round(statistics.median(takes) / statistics.median(baselines), 2),
        "target_takes_per_s": TARGETS[backend],
        "meets_target": statistics.median(takes) >= TARGETS[backend],
        "oversell_phase": {"pool": count, "attempts": procs * attempts,
                           "succeeded": done, "refused": refused, "used_after": used,
                           "oversold": oversold},
    }
    if oversold or done != SMALL_POOL or done + refused != procs * attempts or used != done:
        raise BenchError(f"{backend}: oversell phase failed: {result['oversell_phase']}")
    return result


def machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "platform": platform.platform(), "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m": round(load[0], 2) if load else None}


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"Licence takes: {report['processes']} processes on one pool, median of "
        f"{report['runs']} runs of {report['duration_s']:g} s "
        f"({m['date']}, {m['cpus']} CPUs, Python {m['python']}, "
        f"load {m['load_average_1m']} at the start)",
        "",
        "| backend | takes/s (median) | runs | baseline tx/s (`SELECT 1` write tx) | "
        "take / baseline | target | met |",
        "| --- | ---: | --- | ---: | ---: | ---: | --- |",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['server']} | {r['takes_per_s']:,} | "
            f"{', '.join(f'{x:,}' for x in r['takes_per_s_runs'])} | "
            f"{r['baseline_tx_per_s']:,} | {r['ratio']:.2f} | "
            f"≥ {r['target_takes_per_s']:,} | {'yes' if r['meets_target'] else 'NO'} |")
    lines += ["", "| backend | pool | attempts | succeeded | refused | used after | oversold |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["results"]:
        o = r["oversell_phase"]
        lines.append(f"| {r['backend']} | {o['pool']} | {o['attempts']} | {o['succeeded']} | "
                     f"{o['refused']} | {o['used_after']} | {o['oversold']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="both",
                        choices=["sqlite", "postgresql", "postgresql-async", "both", "all"],
                        help="both = sqlite and postgresql; all adds postgresql-async, a "
                             "diagnostic run with synchronous_commit=off")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per run")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.processes < 1 or args.duration <= 0:
        parser.error("--runs and --processes must be >= 1, --duration > 0")
    backends = {"both": ["sqlite", "postgresql"],
                "all": ["sqlite", "postgresql", "postgresql-async"]}.get(args.backend,
                                                                        [args.backend])
    report = {"machine": machine(), "processes": args.processes, "runs": args.runs,
              "duration_s": args.duration, "results": []}
    try:
        for backend in backends:
            report["results"].append(bench_backend(backend, args.processes, args.runs,
                                                   args.duration))
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
