"""Client import/export benchmark: `resellctl client import` and `client list -o csv`.

All in one run, with fresh processes timed end to end (wall clock, like a user):

    1. generate a CSV of --rows clients (default 100,000) in a temporary directory;
    2. SQLite: per run, a fresh store (init, user, reseller `big` with 2,000,000
       licences), then `resellctl client import FILE --reseller big`; the same-run
       baseline is one `sqlite3` process doing `.import` into a staging table plus
       `INSERT ... SELECT` into a copy of the `client` table (its CREATE TABLE/INDEX
       SQL read from a resellctl store's sqlite_master);
    3. PostgreSQL: the same import into a fresh database `resellctl_bench_<pid>`
       (dropped afterwards), skipped when the server cannot be reached;
    4. `resellctl client list -o csv --reseller big > /dev/null` on both stores; on
       PostgreSQL once right after the import and then, the figure compared with the
       target, after `ANALYZE client` (what autovacuum does soon after a bulk load);
    5. with --full (or --million): peak RSS of a 1,000,000-row SQLite import.

Each process is timed from spawn to exit; os.wait4 also gives its own CPU time
(user + sys) and peak RSS, the figures `/usr/bin/time -v` prints. CPU time is the
load-robust companion of wall time on a busy machine. The commands get a clean
environment (no PYTHONDONTWRITEBYTECODE or PYTHONUNBUFFERED), like a user's shell.

Usage (from the project root, with the project installed in .venv):

    .venv/bin/python bench/import.py                 # 100k rows, 3 runs, markdown table
    .venv/bin/python bench/import.py --full --json   # plus the 1M-row memory run

Targets: import >= 50,000 rows/s on SQLite and <= 6x the sqlite3 baseline,
>= 40,000 rows/s on PostgreSQL, list -o csv <= 1.5 s, 1M-row import < 300 MB RSS.
The exit code is non-zero only when a command fails, never because a target is missed.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from common import PG_DEFAULT, bench_env, cpu_probe, pg_admin, pg_reachable

ADMIN = "a@v.example"
OWNER = "o@x.example"
SLUG = "big"
LICENCES = 2_000_000
HEADER = ["name", "owner_name", "owner_email", "owner_phone", "location", "stage", "plan",
          "seats", "support_type", "support_access", "external_id"]
TARGETS = {  # key: (comparison, target, unit)
    "sqlite_import_rows_per_s": (">=", 50_000, "rows/s"),
    "sqlite_import_vs_baseline": ("<=", 6.0, "×"),
    "pg_import_rows_per_s": (">=", 40_000, "rows/s"),
    "sqlite_list_csv_s": ("<=", 1.5, "s"),
    "pg_list_csv_s": ("<=", 1.5, "s"),
    "million_peak_rss_mb": ("<", 300, "MB"),
}


class CommandFailed(RuntimeError):
    pass


# ---------------------------------------------------------------- the data

FIRST = ["Anna", "Ben", "Chiara", "Dmitri", "Elif", "Farid", "Grete", "Hiro", "Ines", "Jonas",
         "Kemal", "Lena", "Mateo", "Nora", "Olu", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
         "Ula", "Víctor", "Wen", "Xenia", "Yusuf", "Zoë"]
LAST = ["Müller", "Rossi", "García", "Nowak", "Dubois", "Jansen", "Silva", "Kowalski", "Smith",
        "Yılmaz", "Novak", "Larsen", "O'Brien", "Tanaka", "Schmidt", "Fernández", "Ivanova",
        "Haddad", "Papadopoulos", "Lindqvist"]
TRADE = ["Bakery", "Dental Clinic", "Bike Shop", "Florist", "Hair Studio", "Law Office",
         "Pharmacy", "Café", "Print Shop", "Yoga Studio", "Garage", "Bookshop", "Hotel",
         "Opticians", "Veterinary Practice", "Bistro", "Architects", "Tailor"]
SUFFIX = ["", " GmbH", " Ltd", " S.L.", " SARL", " & Co", " BV", " Srl"]
CITIES = [("Berlin", "Germany", "+49 30"), ("Madrid", "Spain", "+34 91"),
          ("Lyon", "France", "+33 4"), ("Milano", "Italy", "+39 02"),
          ("Kraków", "Poland", "+48 12"), ("Utrecht", "Netherlands", "+31 30"),
          ("Porto", "Portugal", "+351 22"), ("Leeds", "United Kingdom", "+44 113"),
          ("Aarhus", "Denmark", "+45 8"), ("Graz", "Austria", "+43 316")]
STAGES = ["lead", "demo", "trial"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example"]
ASCII = str.maketrans("üíéëáñóöåäøçıÿ", "uieeanooaaociy", "' ")


def write_csv(path: Path, rows: int, seed: int = 20240601) -> None:
    """Realistic client rows: unique external ids, plan business-location, lead/demo/trial."""
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for i in range(1, rows + 1):
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            city, country, prefix = rnd.choice(CITIES)
            trade = rnd.choice(TRADE)
            name = f"{last} {trade}{rnd.choice(SUFFIX)} #{i}"
            local = f"{first}.{last}".lower().translate(ASCII)
            writer.writerow([
                name,
                f"{first} {last}",
                f"{local}{i}@{rnd.choice(DOMAINS)}",
                f"{prefix} {rnd.randrange(1_000_000, 9_999_999)}" if rnd.random() < 0.8 else "",
                f"{city}, {country}",
                rnd.choice(STAGES),
                "business-location",
                str(rnd.randint(1, 60)),
                "vendor" if rnd.random() < 0.5 else "",
                "false",
                f"CRM-{i:08d}",
            ])


# ---------------------------------------------------------------- processes

@dataclass
class Sample:
    """One finished process: wall seconds, CPU seconds (user + sys), peak RSS in MB."""

    wall: float
    cpu: float
    rss_mb: float


def run(argv: list[str], env: dict[str, str] | None = None, *, stdin=None) -> Sample:  # noqa: ANN001
    """Run one process to the end, stdout to /dev/null; raises CommandFailed on failure.

    os.wait4 gives this child's own rusage (the figures `/usr/bin/time -v` prints).
    """
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                stdin=stdin if stdin is not None else subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            text = err.read().decode(errors="replace").strip()[-2000:]
            raise CommandFailed(f"`{' '.join(argv)}` exited {proc.returncode}: {text}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def output_of(argv: list[str], env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          check=False, text=True)
    if proc.returncode != 0:
        raise CommandFailed(f"`{' '.join(argv)}` exited {proc.returncode}: "
                            f"{proc.stderr.strip()[-2000:]}")
    return proc.stdout


def fresh_store(entry: str, workdir: Path, url: str) -> dict[str, str]:
    """init + the owner user + reseller `big` with enough licences; returns the env."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    env = bench_env(workdir, url)
    run([entry, "init", "--admin-email", ADMIN], env)
    run([entry, "user", "create", OWNER], env)
    run([entry, "reseller", "create", "--slug", SLUG, "--name", "Big", "--owner", OWNER,
         "--licenses", str(LICENCES)], env)
    return env


def import_argv(entry: str, csv_path: Path) -> list[str]:
    return [entry, "client", "import", str(csv_path), "--reseller", SLUG]


def list_argv(entry: str) -> list[str]:
    return [entry, "client", "list", "-o", "csv", "--reseller", SLUG]


# ---------------------------------------------------------------- SQLite

def sqlite_count(db: Path, table: str = "client") -> int:
    return int(output_of(["sqlite3", str(db), f"SELECT count(*) FROM {table}"]).strip())


def client_schema(db: Path) -> list[str]:
    """The CREATE TABLE / CREATE INDEX statements of resellctl's `client` table."""
    sql = output_of(["sqlite3", str(db), "SELECT sql || ';' FROM sqlite_master "
                     "WHERE tbl_name = 'client' AND sql IS NOT NULL ORDER BY type DESC"])
    statements = [s.strip() for s in sql.split(";\n") if s.strip()]
    if not statements or not statements[0].upper().startswith("CREATE TABLE"):
        raise CommandFailed(f"could not read the client table's schema from {db}")
    return [s.rstrip(";") + ";" for s in statements]


def page_size(db: Path) -> int:
    return int(output_of(["sqlite3", str(db), "PRAGMA page_size"]).strip())


def baseline_script(schema: list[str], csv_path: Path, page: int) -> str:
    """One sqlite3 session: .import into staging, then INSERT ... SELECT into `client`.

    Same page size and pragmas as resellctl's store (WAL, synchronous NORMAL), one
    transaction for the INSERT, time-ordered uids like resellctl's, the same derived
    columns. The shell leaves foreign keys unenforced (its default); resellctl
    enforces them.
    """
    now = "2026-01-01 00:00:00.000000"
    trial = "2026-01-15 00:00:00.000000"
    return "\n".join([
        f"PRAGMA page_size = {page};",
        "PRAGMA journal_mode = WAL;",
        "PRAGMA synchronous = NORMAL;",
        *schema,
        ".mode csv",
        f".import '{csv_path}' staging",
        "BEGIN IMMEDIATE;",
        "INSERT INTO client (uid, reseller_id, name, location, owner_name, owner_email,"
        " owner_phone, stage, status, plan, seats_allocated, seats_used, support_type,"
        " support_access, trial_ends_at, external_id, import_id, created_at, updated_at)",
        "SELECT printf('cl_%020x', rowid), 1, trim(name), nullif(trim(location), ''),"
        " trim(owner_name), lower(trim(owner_email)), nullif(trim(owner_phone), ''),"
        " coalesce(nullif(trim(stage), ''), 'lead'), 'active', nullif(trim(plan), ''),"
        " CAST(coalesce(nullif(trim(seats), ''), '0') AS INTEGER), 0,"
        " coalesce(nullif(trim(support_type), ''), 'vendor'),"
        " lower(trim(support_access)) IN ('true', 'yes', 'y', '1', 'on'),"
        f" CASE WHEN trim(stage) = 'trial' THEN '{trial}' END, nullif(trim(external_id), ''),"
        f" 1, '{now}', '{now}'",
        "FROM staging;",
        "COMMIT;",
        "",
    ])


def sqlite_baseline(workdir: Path, schema: list[str], page: int, csv_path: Path,
                    rows: int) -> Sample:
    db = workdir / "baseline.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    script = workdir / "baseline.sql"
    script.write_text(baseline_script(schema, csv_path, page), encoding="utf-8")
    with script.open("rb") as handle:
        sample = run(["sqlite3", "-bail", str(db)], stdin=handle)
    got = sqlite_count(db)
    if got != rows:
        raise CommandFailed(f"the sqlite3 baseline wrote {got} rows, expected {rows}")
    return sample


def bench_sqlite(entry: str, tmp: Path, csv_path: Path, rows: int, runs: int,
                 list_runs: int) -> dict:
    imports, baselines = [], []
    schema: list[str] | None = None
    page = 4096
    env: dict[str, str] = {}
    for i in range(runs):  # alternate, so background load hits both alike
        workdir = tmp / f"sqlite-{i}"
        env = fresh_store(entry, workdir, f"sqlite:///{workdir / 'resellctl.db'}")
        imports.append(run(import_argv(entry, csv_path), env))
        got = sqlite_count(workdir / "resellctl.db")
        if got != rows:
            raise CommandFailed(f"resellctl imported {got} clients, expected {rows}")
        if schema is None:
            schema = client_schema(workdir / "resellctl.db")
            page = page_size(workdir / "resellctl.db")
        baselines.append(sqlite_baseline(tmp, schema, page, csv_path, rows))
        if i < runs - 1:
            shutil.rmtree(workdir)
    lists = [run(list_argv(entry), env) for _ in range(list_runs)]
    return {"import": samples(imports), "baseline": samples(baselines),
            "list": samples(lists)}


def samples(items: list[Sample]) -> dict[str, list[float]]:
    return {key: [round(getattr(s, key), 3) for s in items] for key in asdict(items[0])}


# ---------------------------------------------------------------- PostgreSQL

def pg_count(url: str) -> int:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute("SELECT count(*) FROM client").fetchone()[0]


def bench_postgres(entry: str, tmp: Path, csv_path: Path, rows: int, runs: int,
                   list_runs: int, base_url: str) -> dict:
    """Each run in a fresh database `resellctl_bench_<pid>`, dropped at the end."""
    name = f"resellctl_bench_{os.getpid()}"
    url = urlsplit(base_url)._replace(path=f"/{name}").geturl()
    imports, lists = [], []
    env: dict[str, str] = {}
    try:
        for i in range(runs):
            pg_admin(f'DROP DATABASE IF EXISTS "{name}"', base_url)
            pg_admin(f'CREATE DATABASE "{name}"', base_url)
            env = fresh_store(entry, tmp / f"pg-{i}", url)
            imports.append(run(import_argv(entry, csv_path), env))
            got = pg_count(url)
            if got != rows:
                raise CommandFailed(f"resellctl imported {got} clients into PostgreSQL, "
                                    f"expected {rows}")
        # Right after a bulk load the planner has no statistics for the new rows;
        # autovacuum analyses the table within a minute or so. Both are measured.
        fresh = [run(list_argv(entry), env)]
        pg_admin("ANALYZE client", url)
        lists = [run(list_argv(entry), env) for _ in range(list_runs)]
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', base_url)
    return {"import": samples(imports), "list": samples(lists),
            "list_fresh": samples(fresh), "database": name}


# ---------------------------------------------------------------- memory

def bench_million(entry: str, tmp: Path, rows: int) -> dict:
    """One import of `rows` rows into a fresh SQLite store: wall, CPU and peak RSS."""
    csv_path = tmp / f"clients-{rows}.csv"
    write_csv(csv_path, rows, seed=7)
    workdir = tmp / "million"
    env = fresh_store(entry, workdir, f"sqlite:///{workdir / 'resellctl.db'}")
    sample = run(import_argv(entry, csv_path), env)
    got = sqlite_count(workdir / "resellctl.db")
    if got != rows:
        raise CommandFailed(f"resellctl imported {got} of {rows} clients")
    shutil.rmtree(workdir)
    csv_path.unlink()
    return {"rows": rows, **asdict(sample)}


def warm_up(entry: str, tmp: Path, csv_path: Path) -> None:
    """Page cache, .pyc files and both commands' code paths; not counted."""
    small = tmp / "warm.csv"
    with csv_path.open(encoding="utf-8") as src, small.open("w", encoding="utf-8") as dst:
        for _, line in zip(range(1001), src, strict=False):
            dst.write(line)
    workdir = tmp / "warm"
    env = fresh_store(entry, workdir, f"sqlite:///{workdir / 'resellctl.db'}")
    run(import_argv(entry, small), env)
    run(list_argv(entry), env)
    shutil.rmtree(workdir)
    small.unlink()


# ---------------------------------------------------------------- the run

def git_state() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        head = output_of(["git", "-C", str(root), "rev-parse", "--short", "HEAD"]).strip()
        dirty = output_of(["git", "-C", str(root), "status", "--porcelain", "--",
                           "resellctl"]).strip()
    except (CommandFailed, FileNotFoundError):
        return "unknown"
    return head + (" + uncommitted changes under resellctl/" if dirty else "")


def measure(args: argparse.Namespace) -> dict:
    python = sys.executable
    entry = str(Path(python).parent / "resellctl")
    if not Path(entry).exists():
        raise CommandFailed(f"no resellctl entry point next to {python}; "
                            "install the project first: .venv/bin/pip install -e .")
    if shutil.which("sqlite3") is None:
        raise CommandFailed("the sqlite3 command-line shell is missing: "
                            "apt-get install -y sqlite3")
    result: dict = {
        "rows": args.rows, "runs": args.runs, "list_runs": args.list_runs,
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "sqlite_version": output_of(["sqlite3", "--version"]).split()[0],
        "code": git_state(), "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "cpu_probe_ms_start": cpu_probe(),
    }
    with tempfile.TemporaryDirectory(prefix="resellctl-import-bench-") as name:
        tmp = Path(name)
        csv_path = tmp / f"clients-{args.rows}.csv"
        write_csv(csv_path, args.rows)
        result["csv_mb"] = round(csv_path.stat().st_size / 2**20, 1)
        warm_up(entry, tmp, csv_path)
        result["sqlite"] = bench_sqlite(entry, tmp, csv_path, args.rows, args.runs,
                                        args.list_runs)
        if args.no_postgres:
            result["postgres"] = {"skipped": "--no-postgres"}
        else:
            reason = pg_reachable(args.pg_url)
            result["postgres"] = ({"skipped": reason} if reason else
                                  bench_postgres(entry, tmp, csv_path, args.rows, args.runs,
                                                 args.list_runs, args.pg_url))
        if args.million:
            result["million"] = bench_million(entry, tmp, 1_000_000)
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["cpu_probe_ms_end"] = cpu_probe()
    result["figures"] = figures(result)
    return result


def figures(result: dict) -> dict:
    """Medians and verdicts; CPU figures (user + sys of the client process) are the
    load-robust companions of the wall times."""
    rows, sq, pg = result["rows"], result["sqlite"], result["postgres"]
    med = statistics.median
    imp, base = med(sq["import"]["wall"]), med(sq["baseline"]["wall"])
    out = {
        "sqlite_import_s": imp,
        "sqlite_import_rows_per_s": rows / imp,
        "sqlite_import_cpu_s": med(sq["import"]["cpu"]),
        "sqlite_import_rss_mb": max(sq["import"]["rss_mb"]),
        "sqlite_baseline_s": base,
        "sqlite_baseline_cpu_s": med(sq["baseline"]["cpu"]),
        "sqlite_baseline_rows_per_s": rows / base,
        "sqlite_import_vs_baseline": imp / base,
        "sqlite_import_vs_baseline_cpu": med(sq["import"]["cpu"]) / med(sq["baseline"]["cpu"]),
        "sqlite_list_csv_s": med(sq["list"]["wall"]),
        "sqlite_list_csv_cpu_s": med(sq["list"]["cpu"]),
    }
    if "import" in pg:
        pg_imp = med(pg["import"]["wall"])
        out.update({"pg_import_s": pg_imp, "pg_import_rows_per_s": rows / pg_imp,
                    "pg_import_cpu_s": med(pg["import"]["cpu"]),
                    "pg_list_csv_s": med(pg["list"]["wall"]),
                    "pg_list_csv_fresh_s": med(pg["list_fresh"]["wall"]),
                    "pg_list_csv_cpu_s": med(pg["list"]["cpu"])})
    if "million" in result:
        million = result["million"]
        out.update({"million_import_s": million["wall"],
                    "million_import_rows_per_s": million["rows"] / million["wall"],
                    "million_peak_rss_mb": million["rss_mb"]})
    met = {}
    for key, (op, target, _unit) in TARGETS.items():
        if key in out:
            value = out[key]
            met[key] = {">=": value >= target, "<=": value <= target, "<": value < target}[op]
    return {"values": {k: round(v, 3) for k, v in out.items()}, "met": met}


ROWS = [  # key, caption, format, target key
    ("sqlite_import_rows_per_s", "SQLite: `client import`, {rows:,} rows", "{:,.0f} rows/s",
     "sqlite_import_rows_per_s"),
    ("sqlite_import_s", "SQLite: `client import`, wall time", "{:.2f} s", None),
    ("sqlite_import_cpu_s", "SQLite: `client import`, CPU (user+sys)", "{:.2f} s", None),
    ("sqlite_import_rss_mb", "SQLite: `client import`, peak RSS", "{:.0f} MB", None),
    ("sqlite_baseline_s", "SQLite: `sqlite3` .import + INSERT…SELECT baseline", "{:.2f} s",
     None),
    ("sqlite_baseline_cpu_s", "SQLite: baseline, CPU (user+sys)", "{:.2f} s", None),
    ("sqlite_baseline_rows_per_s", "SQLite: baseline throughput", "{:,.0f} rows/s", None),
    ("sqlite_import_vs_baseline", "SQLite: resellctl / baseline, wall time", "{:.2f}×",
     "sqlite_import_vs_baseline"),
    ("sqlite_import_vs_baseline_cpu", "SQLite: resellctl / baseline, CPU", "{:.2f}×", None),
    ("pg_import_rows_per_s", "PostgreSQL: `client import`, {rows:,} rows", "{:,.0f} rows/s",
     "pg_import_rows_per_s"),
    ("pg_import_s", "PostgreSQL: `client import`, wall time", "{:.2f} s", None),
    ("pg_import_cpu_s", "PostgreSQL: `client import`, client CPU", "{:.2f} s", None),
    ("sqlite_list_csv_s", "SQLite: `client list -o csv`, {rows:,} clients", "{:.2f} s",
     "sqlite_list_csv_s"),
    ("sqlite_list_csv_cpu_s", "SQLite: `client list -o csv`, CPU", "{:.2f} s", None),
    ("pg_list_csv_s", "PostgreSQL: `client list -o csv`, {rows:,} clients", "{:.2f} s",
     "pg_list_csv_s"),
    ("pg_list_csv_cpu_s", "PostgreSQL: `client list -o csv`, client CPU", "{:.2f} s", None),
    ("pg_list_csv_fresh_s", "PostgreSQL: `client list -o csv` right after the import, "
     "before ANALYZE (1 run)", "{:.2f} s", None),
    ("million_peak_rss_mb", "SQLite: 1,000,000-row import, peak RSS", "{:.0f} MB",
     "million_peak_rss_mb"),
    ("million_import_s", "SQLite: 1,000,000-row import, wall time (1 run)", "{:.2f} s", None),
    ("million_import_rows_per_s", "SQLite: 1,000,000-row import (1 run)", "{:,.0f} rows/s",
     None),
]


def markdown(result: dict) -> str:
    values, met = result["figures"]["values"], result["figures"]["met"]
    lines = [
        f"Median of {result['runs']} runs (list: {result['list_runs']}), {result['rows']:,} rows"
        f" ({result['csv_mb']} MB CSV), {result['started']}, Python {result['python']},"
        f" SQLite {result['sqlite_version']}, {result['cpus']} CPUs, load average"
        f" {result['loadavg_start'][0]:.2f} at start / {result['loadavg_end'][0]:.2f} at end,"
        f" CPU probe {result['cpu_probe_ms_start']:.0f} / {result['cpu_probe_ms_end']:.0f} ms,"
        f" code {result['code']}",
        "",
        "| measure | median | target | met |",
        "| --- | ---: | ---: | --- |",
    ]
    for key, caption, fmt, target_key in ROWS:
        if key not in values:
            continue
        target, verdict = "", ""
        if target_key:
            op, goal, unit = TARGETS[target_key]
            sign = {">=": "≥", "<=": "≤", "<": "<"}[op]
            space = "" if unit == "×" else " "
            target = f"{sign} {goal:,}{space}{unit}"
            verdict = "yes" if met[target_key] else "**no**"
        lines.append(f"| {caption.format(rows=result['rows'])} | {fmt.format(values[key])} "
                     f"| {target} | {verdict} |")
    pg = result["postgres"]
    if "skipped" in pg:
        lines += ["", f"PostgreSQL skipped: {pg['skipped']}"]
    parts = [("SQLite import", result["sqlite"]["import"]),
             ("baseline", result["sqlite"]["baseline"]),
             ("SQLite list", result["sqlite"]["list"])]
    if "import" in pg:
        parts += [("PostgreSQL import", pg["import"]), ("PostgreSQL list", pg["list"])]
    lines += ["", "Wall-time samples (s): "
              + "; ".join(f"{label} {', '.join(f'{v:.2f}' for v in part['wall'])}"
                          for label, part in parts) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the CSV")
    parser.add_argument("--runs", type=int, default=3, help="timed imports per backend")
    parser.add_argument("--list-runs", type=int, default=5,
                        help="timed `client list -o csv` per backend")
    parser.add_argument("--full", action="store_true",
                        help="everything, including the 1,000,000-row memory run")
    parser.add_argument("--million", action=argparse.BooleanOptionalAction, default=None,
                        help="the 1,000,000-row peak-memory run (default: only with --full)")
    parser.add_argument("--pg-url", default=os.environ.get("RESELLCTL_BENCH_PG_URL", PG_DEFAULT),
                        help="maintenance database URL used to create/drop the bench database")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.runs < 1 or args.list_runs < 1:
        parser.error("--rows, --runs and --list-runs must be at least 1")
    if args.million is None:
        args.million = args.full
    try:
        result = measure(args)
    except CommandFailed as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
