"""Subscription benchmark: `resellctl subscription sweep` and `subscription list -o csv`.

All in one run, on SQLite and PostgreSQL, with fresh processes timed end to end
(wall clock, like cron or a user; os.wait4 also gives each process's own CPU time):

    1. a fresh store (bench/licences.py's: a temporary SQLite file, or a PostgreSQL
       schema of its own, dropped at the end) seeded with bulk SQL:
       --resellers resellers (default 1,000), each with a balance and its top-up in
       the ledger, one client per subscription, --due active monthly subscriptions
       in all (default 100,000) whose periods end on days 1-28 of the same month;
    2. per run, `resellctl subscription sweep -o json` with RESELLCTL_NOW on the 28th
       of the next month in turn: every subscription is due once, and renews once
       (one ledger entry and one audit event each). The output and the store are
       checked: renewals, charged cents, ledger and audit rows, balance = ledger sum;
    3. interleaved with the sweeps, the same-run baseline: the same renewals of the
       following month written as plain SQL, the same INSERTs and UPDATEs through
       the DB-API's executemany in one transaction (ledger entries, reseller
       balances, subscriptions, audit events), parameters computed beforehand and
       not timed; no reads, no domain logic, no process start;
    4. --list-total subscriptions in all (default 300,000: the rest pending, paused,
       cancelled, expired or active later), then `resellctl subscription list -o csv
       > /dev/null` (--list-runs, default 5; on PostgreSQL after `ANALYZE`), each
       followed by its baseline: the same statement run by the driver in this
       process, the rows read and dropped (PostgreSQL: the COPY; SQLite: the rows
       fetched, not formatted).

Usage (from the project root, with the project installed in .venv):

    .venv/bin/python bench/subscriptions.py                   # both stores, markdown
    .venv/bin/python bench/subscriptions.py --backend sqlite --runs 5 --json

Targets: sweep >= 20,000 renewals/s on SQLite and >= 10,000/s on PostgreSQL (with
every ledger and audit row written), `subscription list -o csv` of 300,000
subscriptions <= 2 s on both. PostgreSQL comes from RESELLCTL_TEST_DATABASE_URL
(default postgresql://postgres@127.0.0.1:5432/postgres) with the server's own
durability settings. The exit code is non-zero only when a command fails or a check
finds a wrong figure, never because a target is missed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from common import BenchError, Sample, bench_env, entry_point, run
from licences import ADMIN, OWNER, BenchStore, server_version  # a fresh store

FIRST_END = date(2027, 1, 1)  # the seeded periods end on 2027-01-01 .. 2027-01-28
PLAN_CODE, PLAN_NAME = "business-location", "Business Location"
TARGETS = {  # key: (comparison, target, unit)
    "sqlite_renewals_per_s": (">=", 20_000, "renewals/s"),
    "pg_renewals_per_s": (">=", 10_000, "renewals/s"),
    "sqlite_list_csv_s": ("<=", 2.0, "s"),
    "pg_list_csv_s": ("<=", 2.0, "s"),
}
OTHER_STATUSES = ("active", "pending", "paused", "cancelled", "expired")


# ---------------------------------------------------------------- seeding (bulk SQL)

def seed(url: str, resellers: int, due: int) -> dict[int, int]:
    """Resellers with balances (and their top-ups), one client per due subscription, the
    due subscriptions (monthly, ending on days 1-28 of FIRST_END's month). Returns each
    reseller's monthly total in cents."""
    from sqlalchemy import bindparam, insert, select, update

    from resellctl.store import tables
    from resellctl.store.engine import Store

    now = datetime(2026, 12, 1, tzinfo=UTC)
    per = -(-due // resellers)
    store = Store(url)
    try:
        with store.write() as conn:
            conn.execute(insert(tables.user_account).values(
                email=OWNER, name="Owner", is_super_admin=False, created_at=now))
            owner = conn.execute(select(tables.user_account.c.id).where(
                tables.user_account.c.email == OWNER)).scalar_one()
            conn.execute(insert(tables.reseller), [
                {"slug": f"r{r:04d}", "name": f"Reseller {r}", "owner_id": owner,
                 "is_active": True, "partner_supported": False, "license_count": per,
                 "license_used": per, "balance_cents": 0, "branding": {},
                 "created_at": now, "updated_at": now} for r in range(resellers)])
            ids = list(conn.execute(select(tables.reseller.c.id)
                                    .order_by(tables.reseller.c.id)).scalars())
            subs = [_subscription(i, ids[i // per], now) for i in range(due)]
            monthly: dict[int, int] = dict.fromkeys(ids, 0)
            for sub in subs:
                monthly[sub["reseller_id"]] += sub["quantity"] * sub["unit_cents"]
            _clients(conn, [(i, sub["reseller_id"]) for i, sub in enumerate(subs)], now)
            conn.execute(insert(tables.subscription), subs)
            funds = {rid: 40 * cents for rid, cents in monthly.items()}  # 40 months
            conn.execute(insert(tables.ledger_entry), [
                {"reseller_id": rid, "kind": "top_up", "amount_cents": cents,
                 "balance_after_cents": cents, "reference": "bench", "actor_email": ADMIN,
                 "created_at": now} for rid, cents in funds.items()])
            conn.execute(update(tables.reseller).where(tables.reseller.c.id == bindparam("rid"))
                         .values(balance_cents=bindparam("cents")),
                         [{"rid": rid, "cents": cents} for rid, cents in funds.items()])
        return monthly
    finally:
        store.dispose()


def _subscription(i: int, reseller_id: int, now: datetime, status: str = "active") -> dict:
    day = 1 + i % 28
    quantity = 1 + i % 60
    end = FIRST_END.replace(day=day) if status == "active" else None
    return {"id": f"sub_{i:017x}", "client_id": i + 1, "reseller_id": reseller_id,
            "plan_code": PLAN_CODE, "plan_name": PLAN_NAME, "quantity": quantity,
            "interval": "monthly", "unit_cents": 1200 if quantity >= 50 else 1500,
            "status": status, "auto_renew": True,
            "start_date": date(2026, 12, day) if end else None, "current_period_end": end,
            "activated_at": now if end else None, "created_at": now, "updated_at": now}


def _clients(conn, owners: list[tuple[int, int]], now: datetime) -> None:  # noqa: ANN001
    from sqlalchemy import insert

    from resellctl.store import tables

    conn.execute(insert(tables.client), [
        {"id": i + 1, "uid": f"cl_{i:020x}", "reseller_id": rid, "name": f"Client {i}",
         "owner_name": f"Owner {i}", "owner_email": f"owner{i}@client.example",
         "stage": "active", "status": "active", "plan": PLAN_CODE, "seats_allocated": 5,
         "seats_used": 0, "support_type": "vendor", "support_access": False,
         "created_at": now, "updated_at": now} for i, rid in owners])


# ---------------------------------------------------------------- the plain-SQL baseline

BASELINE_SQL = [  # what the sweep writes, table by table, with the same values per row
    "INSERT INTO ledger_entry (reseller_id, amount_cents, balance_after_cents, reference, "
    "subscription_id, kind, actor_email, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "UPDATE reseller SET balance_cents = ? WHERE id = ?",
    'UPDATE subscription SET current_period_end = ?, quantity = ?, "interval" = ?, '
    "unit_cents = ?, next_quantity = ?, next_interval = ?, next_unit_cents = ?, "
    "updated_at = ? WHERE id = ?",
    "INSERT INTO audit_event (reseller_id, entity_id, changes, at, actor_email, action, "
    "entity_type) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "INSERT INTO subscription_period (subscription_id, reseller_id, start_date, end_date, "
    "period_cents, months, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
]


def baseline(url: str, today: date) -> tuple[float, int]:
    """The renewals due on `today` written as plain SQL through the DB-API's executemany,
    in one transaction. Returns (seconds, renewals); only the writes and the commit are
    timed (the reads, and the parameters, which the sweep works out, are not)."""
    from resellctl.store.engine import Store

    store = Store(url)
    try:
        with store.read() as conn:
            due = conn.exec_driver_sql(
                "SELECT s.id, s.reseller_id, s.quantity, s.unit_cents, s.current_period_end, "
                "s.plan_name, c.uid FROM subscription s JOIN client c ON c.id = s.client_id "
                f"WHERE s.status = 'active' AND s.current_period_end <= '{today}' "
                "ORDER BY s.current_period_end, s.id").all()
            balances = dict(conn.exec_driver_sql("SELECT id, balance_cents FROM reseller").all())
        params = _baseline_params(due, balances, today, store.dialect == "sqlite")
        raw = store.engine.raw_connection()
        try:
            cursor = raw.cursor()
            start = time.perf_counter()
            if store.dialect == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            for sql, rows in zip(BASELINE_SQL, params, strict=True):
                cursor.executemany(sql if store.dialect == "sqlite" else
                                   sql.replace("?", "%s"), rows)
            raw.commit() if store.dialect != "sqlite" else cursor.execute("COMMIT")
            return time.perf_counter() - start, len(due)
        finally:
            raw.close()
    finally:
        store.dispose()


def _baseline_params(due: list, balances: dict[int, int], today: date,
                     sqlite: bool) -> list[list[tuple]]:
    """Per statement, the rows of parameters, as the driver takes them (SQLite: dates and
    instants as the text SQLAlchemy stores)."""
    now = datetime.combine(today, datetime.min.time(), UTC)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else now
    ledger, renewed, audit, periods = [], [], [], []
    for sub_id, rid, quantity, unit, old, plan_name, client in due:
        old = date.fromisoformat(old) if sqlite else old
        new = old.replace(year=old.year + old.month // 12, month=old.month % 12 + 1)
        old_value, new_value = (str(old), str(new)) if sqlite else (old, new)
        amount = quantity * unit
        balances[rid] -= amount
        ledger.append((rid, -amount, balances[rid], f"{plan_name} × {quantity}, {old} → {new}",
                       sub_id, "renewal", ADMIN, stamp))
        renewed.append((new_value, quantity, "monthly", unit, None, None, None, stamp, sub_id))
        audit.append((rid, sub_id, json.dumps(
            {"before": {"current_period_end": str(old)},
             "after": {"current_period_end": str(new)}, "client": client,
             "charged_cents": amount, "by": "subscription.sweep"}),
            stamp, ADMIN, "subscription.renew", "subscription"))
        periods.append((sub_id, rid, old_value, new_value, amount, 1, stamp))
    renewed.sort(key=lambda row: row[-1])  # by id, as the sweep updates them
    return [ledger, [(cents, rid) for rid, cents in balances.items()], renewed, audit, periods]


# ---------------------------------------------------------------- the runs

def sweep_day(month: int) -> date:
    """The 28th of the month-th month from FIRST_END's: every period is due once."""
    index = FIRST_END.month - 1 + month - 1
    return date(FIRST_END.year + index // 12, index % 12 + 1, 28)


def counts(url: str) -> tuple[int, ...]:
    """Renewal ledger entries, renewal audit events, recorded periods, and the resellers
    whose balance is not their ledger's sum."""
    from resellctl.store.engine import Store

    store = Store(url)
    try:
        with store.read() as conn:
            return tuple(conn.exec_driver_sql(
                "SELECT (SELECT count(*) FROM ledger_entry WHERE kind = 'renewal'), "
                "(SELECT count(*) FROM audit_event WHERE action = 'subscription.renew'), "
                "(SELECT count(*) FROM subscription_period), "
                "(SELECT count(*) FROM reseller r WHERE balance_cents <> (SELECT coalesce("
                "sum(amount_cents), 0) FROM ledger_entry l WHERE l.reseller_id = r.id))"
                ).one())
    finally:
        store.dispose()


def checked(url: str, due: int, step) -> object:  # noqa: ANN001
    """Run `step`, then check that it wrote one ledger entry, audit event and period per
    due subscription, and that every balance is still its ledger's sum."""
    before = counts(url)
    result = step()
    after = counts(url)
    moved = [b - a for a, b in zip(before[:3], after[:3], strict=True)]
    if moved != [due] * 3 or after[3]:
        raise BenchError(f"expected {due} renewals, entries, events and periods, got "
                         f"{moved}; {after[3]} balances differ from their ledger")
    return result


def run_sweep(entry: str, env: dict[str, str], month: int, due: int,
              monthly: dict[int, int]) -> Sample:
    env = {**env, "RESELLCTL_NOW": f"{sweep_day(month)}T00:00:00Z"}
    sample = run([entry, "subscription", "sweep", "-o", "json"], env)
    got = json.loads(sample.stdout)
    want = {"renewed": due, "subscriptions_renewed": due, "expired": 0,
            "charged_cents": sum(monthly.values()), "expired_for_balance": []}
    if got != want:
        raise BenchError(f"sweep of month {month}: {got}, expected {want}")
    return sample


def add_listed(url: str, total: int, due: int) -> None:
    """Subscriptions up to `total`, of the same clients: pending (no dates), and active,
    paused, cancelled or expired with periods ending in 2030 (not due)."""
    from sqlalchemy import insert

    from resellctl.store import tables
    from resellctl.store.engine import Store

    now = datetime(2026, 12, 1, tzinfo=UTC)
    store = Store(url)
    try:
        with store.write() as conn:
            resellers = dict(conn.exec_driver_sql("SELECT id, reseller_id FROM client").all())
            for first in range(due, total, 50_000):
                rows = []
                for i in range(first, min(total, first + 50_000)):
                    client = 1 + i % due
                    row = _subscription(i, resellers[client], now,
                                        OTHER_STATUSES[i % len(OTHER_STATUSES)])
                    row["client_id"] = client
                    if row["status"] != "pending":
                        row["start_date"] = date(2029, 1 + i % 12, 1 + i % 28)
                        row["current_period_end"] = row["start_date"].replace(year=2030)
                        row["activated_at"] = now
                    rows.append(row)
                conn.execute(insert(tables.subscription), rows)
    finally:
        store.dispose()


def list_argv(entry: str) -> list[str]:
    return [entry, "subscription", "list", "-o", "csv"]


def bench_backend(backend: str, entry: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="resellctl-bench-subs-") as name:
        tmp = Path(name)
        with BenchStore(backend) as url:
            started = time.perf_counter()
            monthly = seed(url, args.resellers, args.due)
            seeded = time.perf_counter() - started
            env = {**bench_env(tmp, url), "RESELLCTL_ACTOR": ADMIN}
            sweeps: list[Sample] = []
            baselines: list[float] = []
            for i in range(args.runs + 1):  # alternating; the first pair is a warm-up
                sample = checked(url, args.due,
                                 lambda i=i: run_sweep(entry, env, 2 * i + 1, args.due,
                                                       monthly))
                seconds, renewals = checked(url, args.due,
                                            lambda i=i: baseline(url, sweep_day(2 * i + 2)))
                if i:
                    sweeps.append(sample)
                    baselines.append(seconds)
            add_listed(url, args.list_total, args.due)
            listed = run(list_argv(entry), env).stdout.count("\n") - 1  # and a warm-up
            if listed != args.list_total:
                raise BenchError(f"`subscription list -o csv` wrote {listed} rows, "
                                 f"expected {args.list_total}")
            if backend == "postgresql":
                analyze(url)
            lists, queries = [], []
            for _ in range(args.list_runs):  # alternating with the query alone
                lists.append(run(list_argv(entry), env, keep_output=False))
                queries.append(list_query(url))
            version = server_version(url)
    return {"backend": backend, "server": version, "seed_s": round(seeded, 1),
            "sweep_wall": [round(s.wall, 3) for s in sweeps],
            "sweep_cpu": [round(s.cpu, 3) for s in sweeps],
            "baseline_wall": [round(s, 3) for s in baselines],
            "list_wall": [round(s.wall, 3) for s in lists],
            "list_query_wall": [round(s, 3) for s in queries],
            "list_cpu": [round(s.cpu, 3) for s in lists]}


def list_query(url: str) -> float:
    """The list's baseline: the export's own statement (domain/prepared.py, the whole
    channel) run by the driver in this process, its rows read and dropped: on
    PostgreSQL the COPY into /dev/null, on SQLite every row fetched, not formatted.
    No process start, no split, no CSV. Seconds."""
    from resellctl.domain.prepared import SQL
    from resellctl.store import copyout
    from resellctl.store.engine import Store

    store = Store(url)
    try:
        with store.reader() as db:
            sql, constants = SQL["subscription_csv_all"][db.dialect]
            start = time.perf_counter()
            if db.dialect == "postgresql":
                with open(os.devnull, "w") as out:
                    copyout.copy_csv(db.driver, sql, constants, out)
            else:
                cursor = db.driver.execute(sql, constants)
                while cursor.fetchmany(2000):
                    pass
            return time.perf_counter() - start
    finally:
        store.dispose()


def analyze(url: str) -> None:
    """What autovacuum soon does after a bulk load."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("ANALYZE subscription, client, reseller")


# ---------------------------------------------------------------- report

def figures(result: dict, args: argparse.Namespace) -> None:
    """Medians, ratios and verdicts, added to each backend's result."""
    med = statistics.median
    for r in result["results"]:
        key = "sqlite" if r["backend"] == "sqlite" else "pg"
        sweep, base = med(r["sweep_wall"]), med(r["baseline_wall"])
        r["figures"] = {"renewals_per_s": args.due / sweep, "sweep_s": sweep,
                        "sweep_cpu_s": med(r["sweep_cpu"]), "baseline_s": base,
                        "baseline_renewals_per_s": args.due / base,
                        "sweep_vs_baseline": sweep / base,
                        "list_csv_s": med(r["list_wall"]), "list_csv_cpu_s": med(r["list_cpu"]),
                        "list_query_s": med(r["list_query_wall"]),
                        "list_vs_query": med(r["list_wall"]) / med(r["list_query_wall"])}
        r["met"] = {name: {">=": value >= target, "<=": value <= target}[op]
                    for name, (op, target, _unit) in TARGETS.items()
                    if name.startswith(key + "_")
                    for value in [r["figures"][name[len(key) + 1:]]]}


def markdown(result: dict, args: argparse.Namespace) -> str:
    lines = [
        f"Median of {args.runs} sweeps of {args.due:,} due subscriptions across "
        f"{args.resellers:,} resellers (each after a warm-up sweep, alternating with the "
        f"plain-SQL baseline) and of {args.list_runs} `subscription list -o csv` of "
        f"{args.list_total:,} subscriptions; {result['started']}, Python {result['python']}, "
        f"{result['cpus']} CPUs, load average {result['loadavg_start'][0]:.2f} at start / "
        f"{result['loadavg_end'][0]:.2f} at end, CPU probe {result['cpu_probe_ms_start']:.0f}"
        f" / {result['cpu_probe_ms_end']:.0f} ms, code {result['code']}",
        "",
        "| backend | sweep renewals/s | sweep wall (CPU) | plain-SQL writes | sweep / plain SQL "
        "| list -o csv wall (CPU) | its query alone | list / query | targets met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in result["results"]:
        f = r["figures"]
        lines.append(
            f"| {r['server']} | {f['renewals_per_s']:,.0f} | {f['sweep_s']:.2f} s "
            f"({f['sweep_cpu_s']:.2f} s) | {f['baseline_s']:.2f} s | "
            f"{f['sweep_vs_baseline']:.2f}× | {f['list_csv_s']:.2f} s "
            f"({f['list_csv_cpu_s']:.2f} s) | {f['list_query_s']:.2f} s | "
            f"{f['list_vs_query']:.2f}× | "
            + ", ".join(f"{k}: {'yes' if v else '**no**'}" for k, v in r["met"].items()) + " |")
    lines += ["", "Wall-time samples (s): " + "; ".join(
        f"{r['backend']} sweep {', '.join(map(str, r['sweep_wall']))}, plain SQL "
        f"{', '.join(map(str, r['baseline_wall']))}, list {', '.join(map(str, r['list_wall']))}"
        f", its query {', '.join(map(str, r['list_query_wall']))}"
        for r in result["results"]) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--resellers", type=int, default=1_000)
    parser.add_argument("--due", type=int, default=100_000, help="due subscriptions")
    parser.add_argument("--runs", type=int, default=3, help="timed sweeps (and baselines)")
    parser.add_argument("--list-total", type=int, default=300_000,
                        help="subscriptions in all for the list")
    parser.add_argument("--list-runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = parser.parse_args(argv)
    if min(args.resellers, args.due, args.runs, args.list_runs) < 1 or not (
            args.due <= args.list_total) or args.runs > 18:
        parser.error("counts must be >= 1, --due <= --list-total, --runs <= 18 (the "
                     "balances last 40 months)")
    shared = importlib.import_module("import")  # bench/import.py: cpu_probe, git_state
    result = {"started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "python": platform.python_version(), "cpus": os.cpu_count(),
              "code": shared.git_state(),
              "loadavg_start": [round(x, 2) for x in os.getloadavg()],
              "cpu_probe_ms_start": shared.cpu_probe(), "results": []}
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    try:
        entry = entry_point()
        for backend in backends:
            result["results"].append(bench_backend(backend, entry, args))
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["cpu_probe_ms_end"] = shared.cpu_probe()
    figures(result, args)
    print(json.dumps(result, indent=2) if args.json else markdown(result, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
