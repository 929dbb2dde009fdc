"""Reports benchmark: `report dashboard`, `snapshot`, `monthly` and `activity`, end to end.

All in one run, on SQLite and PostgreSQL, with fresh processes of the installed
`resellctl` timed from spawn to exit (wall clock, like cron or a user; os.wait4 also
gives each process's own CPU time):

    1. a fresh store (SQLite: a temporary file; PostgreSQL: a fresh database
       `resellctl_bench_reports_<pid>`, dropped at the end), seeded with bulk SQL
       (executemany on SQLite, COPY on PostgreSQL; `VACUUM ANALYZE` on PostgreSQL after,
       what autovacuum does soon after a bulk load): --resellers resellers (default
       1,000), --clients clients (default 100,000: every stage, some deactivated or
       deleted, created over two years, with their client.create / client.edit audit
       events), --subscriptions subscriptions (default 300,000: monthly, quarterly,
       biannual, yearly; active, pending, paused, cancelled, expired; started within the
       last year) with every period they paid (subscription_period) and its ledger entry,
       a monthly top-up per reseller, and a year of daily snapshots per reseller
       (366 days: 366,000 rows with the defaults);
    2. per round (--runs, default 5), interleaved so that load hits all alike:
       `whoami -o json` (the floor: start-up and one read); `report dashboard -o
       json`; the same-run baseline, a fresh Python process that runs the
       dashboard's SELECTs as hand-written SQL over a raw DB-API connection
       (sqlite3 / psycopg) and prints the same figures (checked equal to
       resellctl's); `report snapshot -o json` (replaces today's 1,000 rows);
       `report monthly --month <current> -o csv`; `report activity --range 12m`
       (the chart) and `-o json`. Every output is checked;
    3. after each round, in the bench's own process: the dashboard's domain call on
       a fresh Store (what a command does after its imports) and the plain SQL on a
       fresh connection, back to back.

Usage (from the project root, with the project installed in .venv):

    .venv/bin/python bench/reports.py                      # both stores, markdown
    .venv/bin/python bench/reports.py --backend sqlite --runs 7 --json
    .venv/bin/python bench/reports.py --outputs /tmp/out   # keep each command's output

Targets: dashboard <= 1 s on SQLite and <= 0.5 s on PostgreSQL, and <= 1.5x the
baseline (the bench prints it process against process, and in one process);
snapshot, monthly -o csv <= 2 s; activity --range 12m <= 0.5 s.
PostgreSQL comes from RESELLCTL_TEST_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/postgres). The exit code is non-zero only when a
command fails or a check finds a wrong figure, never because a target is missed.
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from common import (
    BenchError,
    BenchStore,
    Sample,
    bench_env,
    cpu_probe,
    entry_point,
    pg_admin,
    pg_reachable,
    run,
)

ADMIN = "bench@vendor.example"
OWNER = "owner@bench.example"
PLAN_CODE, PLAN_NAME = "business-location", "Business Location"
MONTHS = {"monthly": 1, "quarterly": 3, "biannual": 6, "yearly": 12}
TARGETS = {  # key: (comparison, target, unit)
    "sqlite_dashboard_s": ("<=", 1.0, "s"),
    "sqlite_dashboard_vs_baseline": ("<=", 1.5, "×"),
    "sqlite_snapshot_s": ("<=", 2.0, "s"),
    "sqlite_monthly_s": ("<=", 2.0, "s"),
    "sqlite_activity_s": ("<=", 0.5, "s"),
    "pg_dashboard_s": ("<=", 0.5, "s"),
    "pg_dashboard_vs_baseline": ("<=", 1.5, "×"),
    "pg_snapshot_s": ("<=", 2.0, "s"),
    "pg_monthly_s": ("<=", 2.0, "s"),
    "pg_activity_s": ("<=", 0.5, "s"),
}
COMMANDS = ("whoami", "dashboard", "baseline", "snapshot", "monthly", "activity")


# ---------------------------------------------------------------- stores

def init_store(url: str) -> None:
    """Migrate a fresh store to head, with its super admin and the default catalog."""
    from resellctl.domain import setup
    from resellctl.store.engine import Store

    store = Store(url, check_schema=False)
    setup.init(store, ADMIN, "Bench Admin")
    store.dispose()


# ---------------------------------------------------------------- the data

def add_months(day: date, months: int, anchor: int) -> date:
    """Like resellctl's: calendar months, the anchor day clamped to the month's length."""
    year, index = divmod(day.month - 1 + months, 12)
    year += day.year
    return date(year, index + 1, min(anchor, calendar.monthrange(year, index + 1)[1]))


def unit_price(interval: str, quantity: int) -> int:
    """The default catalog's Business Location prices."""
    if interval == "monthly":
        return 1200 if quantity >= 50 else 1500
    return {"quarterly": 4300, "biannual": 8400, "yearly": 15000}[interval]


@dataclass
class Data:
    """The rows to load, table by table, as tuples in `COLUMNS` order: dates as ISO
    text, instants as text in the store's format, booleans as 0/1."""

    today: date
    sqlite: bool
    rows: dict[str, list[tuple]] = field(default_factory=dict)
    reseller_figures: dict[int, dict] = field(default_factory=dict)

    def instant(self, day: date, minute: int = 360) -> str:
        text = f"{day.isoformat()} {minute // 60:02d}:{minute % 60:02d}:00.000000"
        return text if self.sqlite else text + "+00"


COLUMNS = {
    "reseller": ("id", "slug", "name", "owner_id", "is_active", "partner_supported",
                 "license_count", "license_used", "balance_cents", "branding", "created_at",
                 "updated_at"),
    "client": ("id", "uid", "reseller_id", "name", "owner_name", "owner_email", "stage",
               "status", "plan", "seats_allocated", "seats_used", "support_type",
               "support_access", "trial_ends_at", "deleted_at", "created_at", "updated_at"),
    "subscription": ("id", "client_id", "reseller_id", "plan_code", "plan_name", "quantity",
                     "interval", "unit_cents", "status", "auto_renew", "start_date",
                     "current_period_end", "next_quantity", "next_unit_cents",
                     "activated_at", "created_at", "updated_at"),
    "subscription_period": ("subscription_id", "reseller_id", "start_date", "end_date",
                            "period_cents", "months", "created_at"),
    "ledger_entry": ("reseller_id", "kind", "amount_cents", "balance_after_cents",
                     "reference", "subscription_id", "actor_email", "created_at"),
    "audit_event": ("at", "actor_email", "action", "reseller_id", "entity_type", "entity_id",
                    "changes"),
    "usage_snapshot": ("reseller_id", "day", "total_clients", "active_clients",
                       "trial_clients", "seats_allocated", "seats_used", "license_count",
                       "license_used", "active_subscriptions", "mrr_cents", "balance_cents",
                       "recorded_at"),
}
STAGE_WEIGHTS = {"lead": 10, "demo": 5, "trial": 10, "active": 55, "at_risk": 8,
                 "churned": 12}
INTERVAL_WEIGHTS = {"monthly": 50, "quarterly": 15, "biannual": 10, "yearly": 25}
STATUS_WEIGHTS = {"active": 65, "pending": 5, "paused": 4, "cancelled": 18, "expired": 8}


def generate(today: date, owner_id: int, resellers: int, clients: int, subscriptions: int,
             sqlite: bool, seed: int = 20261203) -> Data:
    rnd = random.Random(seed)
    data = Data(today, sqlite)
    figures = {r: {"total": 0, "active": 0, "trial": 0, "alloc": 0, "used": 0, "licences": 0,
                   "subs": 0, "twelfths": 0} for r in range(1, resellers + 1)}
    owners = _clients(data, rnd, resellers, clients, figures)
    ledger = _subscriptions(data, rnd, owners, subscriptions, figures)
    balances = _ledger(data, ledger, resellers)
    now = data.instant(today - timedelta(days=730), 60)
    rows = []
    for r in range(1, resellers + 1):
        f = figures[r]
        count = f["licences"] + 20 + r % 50
        rows.append((r, f"r{r:04d}", f"Reseller {r}", owner_id, 1, int(r % 7 == 0), count,
                     f["licences"], balances[r], "{}", now, now))
        f.update(license_count=count, balance=balances[r])
    data.rows["reseller"] = rows
    data.reseller_figures = figures
    _snapshots(data, rnd, figures)
    return data


def _clients(data: Data, rnd: random.Random, resellers: int, clients: int,
             figures: dict) -> list[int]:
    """Clients spread unevenly over the resellers (a few big ones), created over two
    years; their client.create and stage-change audit events. Returns each client's
    reseller id (index: client id - 1)."""
    today, rows, audit = data.today, [], []
    stages = rnd.choices(list(STAGE_WEIGHTS), list(STAGE_WEIGHTS.values()), k=clients)
    owners = []
    for i in range(1, clients + 1):
        rid = 1 + int(resellers * rnd.random() ** 2)
        owners.append(rid)
        stage = stages[i - 1]
        created = today - timedelta(days=rnd.randrange(730))
        minute = rnd.randrange(1440)
        status = "deactivated" if stage == "churned" or rnd.random() < 0.03 else "active"
        deleted = data.instant(today, 1) if rnd.random() < 0.02 else None
        alloc = rnd.choice((1, 2, 3, 5, 5, 8, 10, 10, 15, 20, 25, 40, 60))
        used = min(int(alloc * rnd.uniform(0.3, 1.15)), alloc + 3)
        uid = f"cl_{i:020x}"
        at = data.instant(created, minute)
        trial_end = data.instant(created + timedelta(days=14), minute) if stage == "trial" \
            else None
        rows.append((i, uid, rid, f"Client {i}", f"Owner {i}", f"owner{i}@client.example",
                     stage, status, PLAN_CODE, alloc, used, "vendor", 0, trial_end, deleted,
                     at, at))
        first = stage if stage in ("lead", "demo", "trial") else rnd.choice(("lead", "trial"))
        audit.append((at, ADMIN, "client.create", rid, "client", uid,
                      json.dumps({"before": {}, "after": {"stage": first, "seats": alloc}})))
        if first != stage:
            moved = created + timedelta(days=rnd.randrange(max(1, (today - created).days)))
            audit.append((data.instant(moved, minute), ADMIN, "client.edit", rid, "client",
                          uid, json.dumps({"before": {"stage": first},
                                           "after": {"stage": stage}})))
        if deleted is None:
            f = figures[rid]
            f["total"] += 1
            f["trial"] += stage == "trial"
            if status == "active":
                f["active"] += stage in ("active", "at_risk")
                f["alloc"] += alloc
                f["used"] += used
                f["licences"] += 1
    data.rows["client"] = rows
    audit.sort(key=lambda row: row[0])
    data.rows["audit_event"] = audit
    return owners


def _subscriptions(data: Data, rnd: random.Random, owners: list[int], count: int,
                   figures: dict) -> list[tuple]:
    """Subscriptions of random clients, started within the last year, with every period
    they paid (a tenth changed quantity once); returns the charges for the ledger as
    (instant, reseller, amount, kind, subscription, reference)."""
    today, subs, periods, charges = data.today, [], [], []
    intervals = rnd.choices(list(INTERVAL_WEIGHTS), list(INTERVAL_WEIGHTS.values()), k=count)
    statuses = rnd.choices(list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values()), k=count)
    for j in range(count):
        client = rnd.randrange(1, len(owners) + 1)
        rid, interval, status = owners[client - 1], intervals[j], statuses[j]
        months = MONTHS[interval]
        quantity = rnd.choice((1, 1, 2, 3, 5, 5, 8, 10, 12, 20, 30, 50, 60))
        sub_id = f"sub_{j:017x}"
        start = today - timedelta(days=rnd.randrange(1, 366))
        created = data.instant(start - timedelta(days=rnd.randrange(0, 20)), 540)
        if status == "pending":
            subs.append((sub_id, client, rid, PLAN_CODE, PLAN_NAME, quantity, interval,
                         unit_price(interval, quantity), "pending", 1, None, None, None, None,
                         None, created, created))
            continue
        stop = today  # the day the paid history stops: cancellation, pause, expiry
        if status in ("cancelled", "paused"):
            stop = start + timedelta(days=rnd.randrange(max(1, (today - start).days)))
        change = rnd.randrange(1, 12) if rnd.random() < 0.1 else None
        ends, n, begin = [], 0, start
        while True:
            n += 1
            end = add_months(start, months * n, start.day)
            ends.append((begin, end))
            begin = end
            if end > stop:
                break
        if status == "active" and rnd.random() < 0.02 and len(ends) > 1:
            ends.pop()  # overdue: the sweep has not run yet
        if status == "expired":
            ends = [p for p in ends if p[1] <= today] or None
            if ends is None:
                status, ends = "active", [(start, add_months(start, months, start.day))]
        for k, (begin, end) in enumerate(ends):
            if change is not None and k == change:
                quantity = max(1, quantity + rnd.choice((-3, -1, 2, 5, 10)))
            unit = unit_price(interval, quantity)
            if status == "cancelled" and begin <= stop < end:
                end = stop
            periods.append((sub_id, rid, begin.isoformat(), end.isoformat(), quantity * unit,
                            months, data.instant(begin, 300)))
            charges.append((data.instant(begin, 300), rid, -quantity * unit,
                            "activation" if k == 0 else "renewal", sub_id,
                            f"{PLAN_NAME} × {quantity}, {begin} → {end}"))
        last_end = ends[-1][1] if status != "cancelled" else min(ends[-1][1], stop)
        unit = unit_price(interval, quantity)
        nxt = (quantity + 5, unit_price(interval, quantity + 5)) if status == "active" and \
            rnd.random() < 0.03 else (None, None)
        auto = 0 if rnd.random() < 0.08 else 1
        updated = data.instant(ends[-1][0], 300)
        subs.append((sub_id, client, rid, PLAN_CODE, PLAN_NAME, quantity, interval, unit,
                     status, auto, start.isoformat(), last_end.isoformat(), *nxt,
                     data.instant(start, 300), created, updated))
        if status == "active":
            f = figures[rid]
            f["subs"] += 1
            f["twelfths"] += quantity * unit * (12 // months)
    data.rows["subscription"] = subs
    data.rows["subscription_period"] = periods
    return charges


def _ledger(data: Data, charges: list[tuple], resellers: int) -> dict[int, int]:
    """The charges plus a top-up per reseller on every month's first day covering the
    month's charges, in time order with each entry's balance after; returns the final
    balances."""
    per_month: dict[tuple[int, str], int] = {}
    for at, rid, amount, *_ in charges:
        per_month[(rid, at[:7])] = per_month.get((rid, at[:7]), 0) - amount
    top_ups = [(data.instant(date.fromisoformat(f"{month}-01"), 5), rid, cents * 11 // 10
                + 10_000, "top_up", None, "bench top-up")
               for (rid, month), cents in per_month.items()]
    entries = sorted(top_ups + charges, key=lambda e: (e[0], e[3] != "top_up"))
    balance = dict.fromkeys(range(1, resellers + 1), 0)
    rows = []
    for at, rid, amount, kind, sub_id, ref in entries:
        balance[rid] += amount
        rows.append((rid, kind, amount, balance[rid], ref, sub_id, ADMIN, at))
    if min(balance.values()) < 0:
        raise BenchError("the generated ledger runs a balance below zero")
    data.rows["ledger_entry"] = rows
    return balance


def _snapshots(data: Data, rnd: random.Random, figures: dict) -> None:
    """A year of daily snapshots per reseller (today's included), growing towards today's
    figures with some noise."""
    rows = []
    first = data.today - timedelta(days=365)
    for k in range(366):
        day = first + timedelta(days=k)
        at = data.instant(day, 30)
        for rid, f in figures.items():
            g = 0.6 + 0.4 * k / 365 + rnd.uniform(-0.02, 0.02)
            mrr = f["twelfths"] // 12
            rows.append((rid, day.isoformat(), int(f["total"] * g), int(f["active"] * g),
                         int(f["trial"] * g), int(f["alloc"] * g), int(f["used"] * g),
                         f["license_count"], int(f["licences"] * g), int(f["subs"] * g),
                         int(mrr * g), f["balance"], at))
    data.rows["usage_snapshot"] = rows


# ---------------------------------------------------------------- loading (bulk SQL)

def seed(url: str, backend: str, args: argparse.Namespace, today: date) -> dict:
    """Generate and load the data; returns row counts and seconds."""
    start = time.perf_counter()
    data = generate(today, owner_id(url), args.resellers, args.clients, args.subscriptions,
                    backend == "sqlite")
    generated = time.perf_counter() - start
    if backend == "sqlite":
        _load_sqlite(url, data)
    else:
        _load_postgres(url, data)
    return {"rows": {table: len(rows) for table, rows in data.rows.items()},
            "figures": data.reseller_figures, "generate_s": round(generated, 1),
            "load_s": round(time.perf_counter() - start - generated, 1)}


def owner_id(url: str) -> int:
    """The resellers' owner: a user created through resellctl's own store code."""
    from sqlalchemy import insert, select

    from resellctl.store import tables
    from resellctl.store.engine import Store

    store = Store(url)
    try:
        with store.write() as conn:
            conn.execute(insert(tables.user_account).values(
                email=OWNER, name="Owner", is_super_admin=False,
                created_at=datetime(2024, 1, 1, tzinfo=UTC)))
            return conn.execute(select(tables.user_account.c.id).where(
                tables.user_account.c.email == OWNER)).scalar_one()
    finally:
        store.dispose()


def _load_sqlite(url: str, data: Data) -> None:
    import sqlite3

    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for table, rows in _ordered(data):
            columns = COLUMNS[table]
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                             f"({', '.join('?' * len(columns))})", rows)
        conn.execute("COMMIT")
    finally:
        conn.close()


def _ordered(data: Data) -> list[tuple[str, list[tuple]]]:
    """Tables in foreign-key order."""
    order = ("reseller", "client", "subscription", "subscription_period", "ledger_entry",
             "audit_event", "usage_snapshot")
    return [(table, data.rows[table]) for table in order]


def _load_postgres(url: str, data: Data) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor:
            for table, rows in _ordered(data):
                columns = COLUMNS[table]
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            for table in ("reseller", "client"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))")
        conn.commit()
    pg_admin("VACUUM ANALYZE", url)  # what autovacuum does within a minute of a bulk load


# ---------------------------------------------------------------- the plain-SQL baseline

# The dashboard's SELECTs, hand-written: the figures per reseller, one GROUP BY per
# table (the whole channel's figures are their sums), and the resellers' slugs. `?` is
# the DB-API placeholder (psycopg: %s); `{plus}` is `+` on SQLite, as resellctl writes
# it there (it keeps SQLite's planner from reading the table through an index).
BASELINE_SQL = {
    "clients": (
        "SELECT reseller_id, count(*),"
        " coalesce(sum(CASE WHEN status = 'active' AND stage IN ('active', 'at_risk')"
        " THEN 1 ELSE 0 END), 0),"
        " coalesce(sum(CASE WHEN stage = 'trial' THEN 1 ELSE 0 END), 0),"
        " coalesce(sum(CASE WHEN status = 'active' THEN seats_allocated ELSE 0 END), 0),"
        " coalesce(sum(CASE WHEN status = 'active' THEN seats_used ELSE 0 END), 0)"
        " FROM client WHERE deleted_at IS NULL GROUP BY {plus}reseller_id"),
    "subscriptions": (
        "SELECT reseller_id, count(*),"
        " coalesce(sum(quantity * unit_cents * CASE \"interval\" WHEN 'monthly' THEN 12"
        " WHEN 'quarterly' THEN 4 WHEN 'biannual' THEN 2 WHEN 'yearly' THEN 1 ELSE 0 END),"
        " 0),"
        " coalesce(sum(CASE WHEN auto_renew AND current_period_end <= ?"
        " THEN coalesce(next_quantity, quantity) * coalesce(next_unit_cents, unit_cents)"
        " ELSE 0 END), 0)"
        " FROM subscription WHERE {plus}status = 'active' GROUP BY {plus}reseller_id"),
    "pools": (
        "SELECT id, coalesce(sum(license_count), 0), coalesce(sum(license_used), 0),"
        " coalesce(sum(balance_cents), 0) FROM reseller GROUP BY id"),
    "slugs": "SELECT id, slug FROM reseller",
}

# `plain(url, today, sql)`: connect over the raw DB-API (sqlite3 / psycopg), run the
# SELECTs, shape the figures like `report dashboard -o json`, with the seconds from
# connecting to the last row. The bench runs it in a fresh process (BASELINE_MAIN, like
# the command) and in its own process (beside the domain call).
BASELINE = r"""
def plain(url, today, sql):
    import time
    from datetime import date, timedelta
    if url.startswith("sqlite:///"):
        import sqlite3
        start = time.perf_counter()
        conn = sqlite3.connect(url[len("sqlite:///"):])
        mark, plus = "?", "+"
    else:
        import psycopg
        start = time.perf_counter()
        conn = psycopg.connect(url)
        mark, plus = "%s", ""
    cur = conn.cursor()
    due = (date.fromisoformat(today) + timedelta(days=30)).isoformat()
    parts = []
    for name in ("clients", "subscriptions", "pools"):
        cur.execute(sql[name].format(plus=plus).replace("?", mark),
                    (due,) if name == "subscriptions" else ())
        parts.append({row[0]: row[1:] for row in cur.fetchall()})
    cur.execute(sql["slugs"])
    slugs = cur.fetchall()
    seconds = time.perf_counter() - start
    conn.close()
    names = (("total_clients", "active_clients", "trial_clients", "allocated_seats",
              "used_seats"), ("active_subscriptions", "mrr_twelfths",
                              "renewals_due_30d_cents"),
             ("license_count", "license_used", "balance_cents"))
    def figures(values):
        f = {name: int(v) for group, part in zip(names, values) for name, v in
             zip(group, part or (0,) * len(group))}
        q, r = divmod(f.pop("mrr_twelfths"), 12)
        mrr = q + (2 * r > 12 or (2 * r == 12 and q % 2))
        f.update(mrr_cents=mrr, arr_cents=12 * mrr,
                 license_available=f["license_count"] - f["license_used"])
        return f
    totals = [[sum(column) for column in zip(*part.values())] for part in parts]
    per = [{"reseller": slug, **figures([part.get(rid) for part in parts])}
           for rid, slug in slugs]
    per.sort(key=lambda r: (-r["mrr_cents"], r["reseller"]))
    return {"figures": figures(totals), "resellers": per, "sql_s": seconds}
"""
BASELINE_MAIN = BASELINE + """
import json, sys
print(json.dumps(plain(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))))
"""


def baseline_argv(url: str, today: date) -> list[str]:
    return [sys.executable, "-c", BASELINE_MAIN, url, today.isoformat(),
            json.dumps(BASELINE_SQL)]


def check_dashboard(got: dict, expected: dict) -> None:
    """resellctl's figures and the baseline's must be the same numbers."""
    mine = {k: v for k, v in got.items() if k not in ("reseller", "date", "resellers")}
    if mine != expected["figures"]:
        raise BenchError(f"dashboard figures differ from the plain SQL: {mine} != "
                         f"{expected['figures']}")
    if got["resellers"] != expected["resellers"]:
        diff = next(i for i, (a, b) in enumerate(zip(got["resellers"], expected["resellers"],
                                                     strict=False)) if a != b)
        raise BenchError(f"per-reseller rows differ from the plain SQL at row {diff}: "
                         f"{got['resellers'][diff]} != {expected['resellers'][diff]}")


def check_generated(got: dict, data_figures: dict) -> None:
    """The dashboard agrees with the figures the generator counted."""
    rows = {r["reseller"]: r for r in got["resellers"]}
    for rid, f in data_figures.items():
        row = rows[f"r{rid:04d}"]
        want = {"total_clients": f["total"], "active_clients": f["active"],
                "trial_clients": f["trial"], "allocated_seats": f["alloc"],
                "used_seats": f["used"], "license_used": f["licences"],
                "active_subscriptions": f["subs"], "balance_cents": f["balance"]}
        have = {k: row[k] for k in want}
        if have != want:
            raise BenchError(f"reseller r{rid:04d}: the dashboard says {have}, the generated "
                             f"data {want}")


# ---------------------------------------------------------------- the commands

def commands(entry: str, url: str, today: date) -> dict[str, list[str]]:
    return {
        "whoami": [entry, "whoami", "-o", "json"],  # the floor: start-up and one read
        "dashboard": [entry, "report", "dashboard", "-o", "json"],
        "baseline": baseline_argv(url, today),
        "snapshot": [entry, "report", "snapshot", "-o", "json"],
        "monthly": [entry, "report", "monthly", "--month", today.strftime("%Y-%m"), "-o",
                    "csv"],
        "activity": [entry, "report", "activity", "--range", "12m"],
        "activity_json": [entry, "report", "activity", "--range", "12m", "-o", "json"],
    }


def check(name: str, sample: Sample, today: date, resellers: int,
          baseline: dict | None) -> dict | None:
    """Each command's output is what it should be; returns the parsed output."""
    out = sample.stdout
    if name == "dashboard":
        got = json.loads(out)
        if baseline is not None:
            check_dashboard(got, baseline)
        return got
    if name == "baseline":
        return json.loads(out)
    if name == "snapshot":
        got = json.loads(out)
        if got != {"date": today.isoformat(), "resellers": resellers, "replaced": True}:
            raise BenchError(f"report snapshot said {got}")
    elif name == "monthly":
        lines = out.splitlines()
        if len(lines) != resellers + 1 or not lines[0].startswith("month,reseller,"):
            raise BenchError(f"report monthly wrote {len(lines)} lines: {lines[:2]}")
    elif name == "activity":
        if "date" not in out or len(out.splitlines()) < 10:
            raise BenchError(f"report activity drew no chart: {out[:300]!r}")
    elif name == "activity_json":
        points = json.loads(out)
        if len(points) != 366 or any(p["value"] is None for p in points) \
                or points[-1]["date"] != today.isoformat():
            raise BenchError(f"report activity -o json gave {len(points)} points")
    return None


def in_process(url: str, today: date) -> tuple[float, float]:
    """In the bench's own process: the dashboard's domain call on a fresh Store (a driver
    connection, the schema check, the prepared statements: a command's work after its
    imports), then the plain SQL on a fresh DB-API connection.
    Returns both in seconds."""
    from resellctl.domain import figures
    from resellctl.domain.context import Ctx
    from resellctl.store.engine import Store

    start = time.perf_counter()
    store = Store(url)
    try:
        figures.dashboard(Ctx(store, ADMIN))
    finally:
        store.dispose()
    domain = time.perf_counter() - start
    namespace: dict = {}
    exec(BASELINE, namespace)  # noqa: S102 - the bench's own code, above
    return domain, namespace["plain"](url, today.isoformat(), BASELINE_SQL)["sql_s"]


def bench_backend(entry: str, backend: str, tmp: Path, args: argparse.Namespace,
                  today: date) -> dict:
    with BenchStore(backend, tmp, "reports") as url:
        init_store(url)
        seeded = seed(url, backend, args, today)
        env = {**bench_env(tmp, url), "RESELLCTL_ACTOR": ADMIN,
               "RESELLCTL_NOW": f"{today.isoformat()}T06:00:00Z"}
        os.environ["RESELLCTL_NOW"] = env["RESELLCTL_NOW"]
        argvs = commands(entry, url, today)
        names = [n for n in argvs if n in args.only] if args.only else list(argvs)
        # warm-up (page cache, .pyc files), and the checks against the generated data
        base = json.loads(run(argvs["baseline"], env).stdout)
        dash = json.loads(run(argvs["dashboard"], env).stdout)
        check_dashboard(dash, base)
        data_figures = seeded.pop("figures")
        check_generated(dash, data_figures)
        for name in names:
            check(name, run(argvs[name], env), today, args.resellers, base)
        samples: dict[str, list[Sample]] = {name: [] for name in names}
        last: dict[str, str] = {}
        sql_s, inside = [], []
        for _ in range(args.runs):
            for name in names:
                sample = run(argvs[name], env)
                parsed = check(name, sample, today, args.resellers, base)
                if name == "baseline":
                    sql_s.append(parsed["sql_s"])
                samples[name].append(sample)
                last[name] = sample.stdout
            if "dashboard" in names:
                inside.append(in_process(url, today))
        if args.outputs:  # to compare two versions' outputs on the same data
            args.outputs.mkdir(parents=True, exist_ok=True)
            for name, text in last.items():
                (args.outputs / f"{backend}-{name}.txt").write_text(text, encoding="utf-8")
        result = {"seed": seeded, "url": url.split("@")[-1],
                  **{name: {"wall": [round(s.wall, 4) for s in got],
                            "cpu": [round(s.cpu, 4) for s in got]}
                     for name, got in samples.items()}}
        if sql_s:
            result["baseline_sql_s"] = [round(s, 4) for s in sql_s]
        if inside:
            result["dashboard_in_process_s"] = [round(d, 4) for d, _ in inside]
            result["plain_sql_in_process_s"] = [round(p, 4) for _, p in inside]
        result["commands"] = {name: " ".join(argvs[name][1:]) if name != "baseline"
                              else "python -c BASELINE_MAIN URL TODAY SQL" for name in names}
        return result


# ---------------------------------------------------------------- the run

def git_state() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                "resellctl"], capture_output=True, text=True,
                               check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"
    return head + (" + uncommitted changes under resellctl/" if dirty else "")


def measure(args: argparse.Namespace) -> dict:
    import sqlite3

    entry = entry_point()
    today = datetime.now(UTC).date()
    result: dict = {
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "today": str(today),
        "runs": args.runs, "resellers": args.resellers, "clients": args.clients,
        "subscriptions": args.subscriptions, "python": platform.python_version(),
        "sqlite_version": sqlite3.sqlite_version, "cpus": os.cpu_count(),
        "code": git_state(), "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "cpu_probe_ms_start": cpu_probe(),
    }
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "postgresql" and (reason := pg_reachable()):
            result[backend] = {"skipped": reason}
            continue
        with tempfile.TemporaryDirectory(prefix=f"resellctl-reports-{backend}-") as name:
            result[backend] = bench_backend(entry, backend, Path(name), args, today)
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["cpu_probe_ms_end"] = cpu_probe()
    result["figures"] = figures(result)
    return result


def figures(result: dict) -> dict:
    med = statistics.median
    out: dict[str, float] = {}
    for backend, prefix in (("sqlite", "sqlite"), ("postgresql", "pg")):
        got = result.get(backend, {})
        for name in ("whoami", "dashboard", "baseline", "snapshot", "monthly", "activity",
                     "activity_json"):
            if name in got:
                out[f"{prefix}_{name}_s"] = med(got[name]["wall"])
                out[f"{prefix}_{name}_cpu_s"] = med(got[name]["cpu"])
        if "dashboard" in got and "baseline" in got:
            out[f"{prefix}_dashboard_vs_baseline"] = (out[f"{prefix}_dashboard_s"]
                                                      / out[f"{prefix}_baseline_s"])
        if "baseline_sql_s" in got:
            out[f"{prefix}_baseline_sql_s"] = med(got["baseline_sql_s"])
        if "dashboard_in_process_s" in got:
            out[f"{prefix}_dashboard_in_process_s"] = med(got["dashboard_in_process_s"])
            out[f"{prefix}_plain_sql_in_process_s"] = med(got["plain_sql_in_process_s"])
            out[f"{prefix}_in_process_vs_sql"] = (out[f"{prefix}_dashboard_in_process_s"]
                                                  / out[f"{prefix}_plain_sql_in_process_s"])
    met = {}
    for key, (op, target, _unit) in TARGETS.items():
        if key in out:
            met[key] = out[key] <= target if op == "<=" else out[key] >= target
    return {"values": {k: round(v, 3) for k, v in out.items()}, "met": met}


ROWS = [  # key suffix, caption, format, has a target
    ("whoami_s", "`resellctl whoami` (start-up and one read: the floor)", "{:.3f} s", False),
    ("dashboard_s", "`report dashboard -o json`", "{:.3f} s", True),
    ("baseline_s", "baseline: the same SELECTs, plain SQL, fresh `python` process",
     "{:.3f} s", False),
    ("dashboard_vs_baseline", "dashboard / baseline, wall time", "{:.2f}×", True),
    ("dashboard_cpu_s", "`report dashboard`, CPU (user+sys)", "{:.3f} s", False),
    ("baseline_cpu_s", "baseline, CPU (user+sys)", "{:.3f} s", False),
    ("baseline_sql_s", "baseline: connect + SELECTs, timed inside its process", "{:.3f} s",
     False),
    ("dashboard_in_process_s", "in one process: the dashboard's domain call, fresh Store",
     "{:.3f} s", False),
    ("plain_sql_in_process_s", "in one process: the plain SQL, fresh connection",
     "{:.3f} s", False),
    ("in_process_vs_sql", "in one process: domain call / plain SQL", "{:.2f}×", False),
    ("snapshot_s", "`report snapshot` (replaces the day's rows)", "{:.3f} s", True),
    ("monthly_s", "`report monthly --month <current> -o csv`", "{:.3f} s", True),
    ("activity_s", "`report activity --range 12m` (the chart)", "{:.3f} s", True),
    ("activity_json_s", "`report activity --range 12m -o json`", "{:.3f} s", False),
]


def markdown(result: dict) -> str:
    values, met = result["figures"]["values"], result["figures"]["met"]
    lines = [
        f"Median of {result['runs']} runs, {result['resellers']:,} resellers,"
        f" {result['clients']:,} clients, {result['subscriptions']:,} subscriptions,"
        f" {result['started']}, Python {result['python']}, SQLite {result['sqlite_version']},"
        f" {result['cpus']} CPUs, load average {result['loadavg_start'][0]:.2f} at start /"
        f" {result['loadavg_end'][0]:.2f} at end, CPU probe"
        f" {result['cpu_probe_ms_start']:.0f} / {result['cpu_probe_ms_end']:.0f} ms,"
        f" code {result['code']}",
        "",
        "| measure | median | target | met |",
        "| --- | ---: | ---: | --- |",
    ]
    for backend, prefix, label in (("sqlite", "sqlite", "SQLite"),
                                   ("postgresql", "pg", "PostgreSQL")):
        for suffix, caption, fmt, has_target in ROWS:
            key = f"{prefix}_{suffix}"
            if key not in values:
                continue
            target, verdict = "", ""
            if has_target and key in TARGETS:
                _op, goal, unit = TARGETS[key]
                target = f"≤ {goal}{'' if unit == '×' else ' '}{unit}"
                verdict = "yes" if met[key] else "**no**"
            lines.append(f"| {label}: {caption} | {fmt.format(values[key])} | {target} "
                         f"| {verdict} |")
        if "skipped" in result.get(backend, {}):
            lines.append(f"| {label}: skipped ({result[backend]['skipped']}) | | | |")
    lines.append("")
    for backend, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        got = result.get(backend, {})
        if "seed" not in got:
            continue
        rows = ", ".join(f"{table} {count:,}" for table, count in got["seed"]["rows"].items())
        samples = "; ".join(f"{name} {', '.join(f'{v:.3f}' for v in got[name]['wall'])}"
                            for name in ("whoami", "dashboard", "baseline", "snapshot",
                                         "monthly", "activity", "activity_json")
                            if name in got)
        lines += [f"{label} store: {rows} (generated in {got['seed']['generate_s']} s, "
                  f"loaded in {got['seed']['load_s']} s). Wall-time samples (s): {samples}.",
                  ""]
    return "\n".join(lines).rstrip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--resellers", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--subscriptions", type=int, default=300_000)
    parser.add_argument("--only", nargs="+", choices=(*COMMANDS, "activity_json"),
                        help="time only these commands (diagnostics)")
    parser.add_argument("--outputs", type=Path,
                        help="save each command's last output in this directory")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = parser.parse_args(argv)
    if min(args.runs, args.resellers, args.clients, args.subscriptions) < 1:
        parser.error("--runs, --resellers, --clients and --subscriptions must be at least 1")
    try:
        result = measure(args)
    except BenchError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
