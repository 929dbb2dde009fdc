"""Subscriptions under real concurrency and crashes, on SQLite and PostgreSQL: separate
`resellctl` processes (the installed entry point) activating against one balance,
two sweeps at once, a sweep killed with SIGKILL mid-way; and Hypothesis properties of
the period arithmetic and the tier a quantity picks.

The due subscriptions are written with bulk SQL (the columns an activation leaves
behind), not with a thousand CLI calls; RESELLCTL_NOW makes them due.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from helpers import ok
from hypothesis import given, settings
from hypothesis import strategies as st
from test_client_concurrency import cli_env, spawn

from resellctl.domain import catalog
from resellctl.domain.subscriptions import MONTHS, add_months, period_end, tier_price

ANA = "ana@acme.example"
NOW = "2026-06-15T06:00:00Z"
TODAY = date(2026, 6, 15)
PROPERTIES = settings(max_examples=300, deadline=None, database=None)


# ---------------------------------------------------------------- helpers


def rows(store_url: str, sql: str) -> list[tuple]:
    """Rows of raw SQL over a fresh connection (not through resellctl)."""
    from sqlalchemy import create_engine, text

    from resellctl.store.engine import driver_url

    engine = create_engine(driver_url(store_url))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def reseller(run, slug: str, dollars: str, clients: int = 1) -> tuple[int, list[int]]:  # noqa: ANN001
    """Reseller `slug` (owner ana) with a balance and `clients` clients: (id, client ids)."""
    if not rows(run.url, f"SELECT id FROM user_account WHERE email = '{ANA}'"):
        ok(run("user", "create", ANA, "-o", "json"))
    ok(run("reseller", "create", "--slug", slug, "--name", slug.title(), "--owner", ANA,
           "--licenses", "50", "-o", "json"))
    ok(run("reseller", "balance", "top-up", slug, dollars, "-o", "json"))
    for i in range(clients):
        ok(run("client", "create", "-r", slug, "--name", f"{slug} client {i}", "--owner-name",
               "O", "--owner-email", f"c{i}@{slug}.example", "-o", "json"))
    [(rid,)] = rows(run.url, f"SELECT id FROM reseller WHERE slug = '{slug}'")
    ids = [c for (c,) in rows(run.url, f"SELECT id FROM client WHERE reseller_id = {rid} "
                                       "ORDER BY id")]
    return rid, ids


def add_subscriptions(store_url: str, subs: list[dict]) -> None:
    """Insert active subscriptions as an activation leaves them, in one transaction."""
    from sqlalchemy import insert

    from resellctl.domain import clock
    from resellctl.store import tables
    from resellctl.store.engine import Store

    now = clock.parse_instant("2026-01-01T00:00:00Z")
    store = Store(store_url)
    try:
        with store.write() as conn:
            conn.execute(insert(tables.subscription), [
                {"plan_code": "business-location", "plan_name": "Business Location",
                 "status": "active", "auto_renew": True, "activated_at": now,
                 "created_at": now, "updated_at": now, **sub} for sub in subs])
    finally:
        store.dispose()


def due(i: int, reseller_id: int, client_id: int, end: date, *, interval: str = "monthly",
        quantity: int = 1, auto_renew: bool = True) -> dict:
    """Subscription number i, its current period ending on `end` (anchored on its day)."""
    return {"id": f"sub_{i:017x}", "client_id": client_id, "reseller_id": reseller_id,
            "quantity": quantity, "interval": interval, "unit_cents": 1000,
            "auto_renew": auto_renew, "current_period_end": end,
            "start_date": add_months(end, -MONTHS[interval])}


def renewals(store_url: str) -> Counter:
    """Renewal ledger entries per subscription."""
    return Counter(dict(rows(store_url, "SELECT subscription_id, count(*) FROM ledger_entry "
                                        "WHERE kind = 'renewal' GROUP BY subscription_id")))


def renew_events(store_url: str) -> Counter:
    return Counter(dict(rows(store_url, "SELECT entity_id, count(*) FROM audit_event WHERE "
                                        "action = 'subscription.renew' GROUP BY entity_id")))


def paid_periods(store_url: str) -> Counter:
    """Paid periods recorded per subscription (the seeded ones have none)."""
    return Counter(dict(rows(store_url, "SELECT subscription_id, count(*) FROM "
                                        "subscription_period GROUP BY subscription_id")))


def ends(store_url: str) -> dict[str, tuple[str, date]]:
    """Each subscription's status and current period end."""
    return {sub_id: (status, end if isinstance(end, date) else date.fromisoformat(end))
            for sub_id, status, end in rows(store_url, "SELECT id, status, current_period_end "
                                                       "FROM subscription")}


def assert_balances_are_ledger_sums(store_url: str) -> None:
    balances = rows(store_url, "SELECT r.id, r.balance_cents, (SELECT coalesce(sum("
                               "amount_cents), 0) FROM ledger_entry l WHERE l.reseller_id = "
                               "r.id) FROM reseller r")
    for rid, balance, ledger_sum in balances:
        assert balance == ledger_sum >= 0, (rid, balance, ledger_sum)


def sweep_process(store_url: str, tmp_path: Path) -> subprocess.Popen:
    env = cli_env(store_url, tmp_path)
    env["RESELLCTL_NOW"] = NOW
    return spawn(env, "subscription", "sweep", "-o", "json")


def finished(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0 and err == "", (proc.returncode, err)
    return json.loads(out)


# ---------------------------------------------------------------- activations


@pytest.mark.slow
def test_12_concurrent_activations_against_a_balance_for_5(run, store_url: str,  # noqa: ANN001
                                                           tmp_path: Path) -> None:
    reseller(run, "acme", "89.99", clients=12)  # 5 × $15.00 + $14.99, not 6
    uids = [c["uid"] for c in ok(run("client", "list", "-r", "acme", "-o", "json"))]
    subs = [ok(run("subscription", "create", uid, "--plan", "business-location",
                   "--quantity", "1", "-o", "json"))["id"] for uid in uids]
    env = cli_env(store_url, tmp_path)
    procs = [spawn(env, "subscription", "activate", sub, "-o", "json") for sub in subs]
    outcomes = [(sub, p.wait(timeout=180), *p.communicate()) for sub, p in zip(subs, procs,
                                                                              strict=True)]
    assert sorted(code for _, code, _, _ in outcomes) == [0] * 5 + [7] * 7, outcomes
    for _, code, out, err in outcomes:
        if code == 7:
            assert out == "" and json.loads(err)["error"]["code"] == "insufficient_balance"
    won = {sub for sub, code, _, _ in outcomes if code == 0}
    listed = {s["id"]: s["status"] for s in ok(run("subscription", "list", "-o", "json"))}
    assert {sub for sub, status in listed.items() if status == "active"} == won
    assert Counter(listed.values()) == {"active": 5, "pending": 7}
    history = ok(run("reseller", "balance", "history", "acme", "-o", "json"))
    assert sorted(e["subscription_id"] for e in history if e["kind"] == "activation") == sorted(
        won)
    balance = ok(run("reseller", "balance", "show", "acme", "-o", "json"))["balance_cents"]
    assert balance == 1499 == sum(e["amount_cents"] for e in history)
    assert_balances_are_ledger_sums(store_url)


# ---------------------------------------------------------------- two sweeps at once


@pytest.mark.slow
def test_two_concurrent_sweeps_charge_each_renewal_once(run, store_url: str,  # noqa: ANN001
                                                        tmp_path: Path) -> None:
    """1,000 due subscriptions: 800 of a reseller whose balance covers them all (some one,
    two or three months overdue, some quarterly, some not auto-renewing) and 200 of one
    whose balance covers 120 of their periods ($10.00 each). Two sweeps start at once."""
    rich, rich_clients = reseller(run, "acme", "100000", clients=2)
    thin, [thin_client] = reseller(run, "thin", "1209.99")
    subs, expected = [], {}
    for i in range(1000):
        if i % 5 == 0:  # thin: one period due, ends 06-01 .. 06-15
            subs.append(due(i, thin, thin_client, date(2026, 6, 1 + i % 15)))
            continue
        interval = "quarterly" if i % 7 == 0 else "monthly"
        end = date(2026, 6 - i % 3, 1 + i % 15)
        sub = due(i, rich, rich_clients[i % 2], end, interval=interval, quantity=1 + i % 4,
                  auto_renew=i % 50 != 1)
        subs.append(sub)
        periods = [end]
        while sub["auto_renew"] and periods[-1] <= TODAY:
            periods.append(add_months(periods[-1], MONTHS[interval], end.day))
        expected[sub["id"]] = periods
    add_subscriptions(store_url, subs)

    first, second = sweep_process(store_url, tmp_path), sweep_process(store_url, tmp_path)
    results = [finished(first), finished(second)]

    # the thin reseller's 120 earliest periods renew (by end, then id); the rest expire
    thin_order = sorted((s["current_period_end"], s["id"]) for s in subs
                        if s["reseller_id"] == thin)
    renewed_thin = {sub_id for _, sub_id in thin_order[:120]}
    for end, sub_id in thin_order:
        expected[sub_id] = [end, add_months(end, 1)] if sub_id in renewed_thin else [end]
    periods = sum(len(p) - 1 for p in expected.values())
    charged = sum((len(expected[s["id"]]) - 1) * s["quantity"] * 1000 for s in subs)
    expired = sorted(s["id"] for s in subs if not s["auto_renew"]
                     or (s["reseller_id"] == thin and s["id"] not in renewed_thin))
    assert sorted((r["renewed"], r["charged_cents"], r["expired"]) for r in results) == [
        (0, 0, 0), (periods, charged, len(expired))]
    done = max(results, key=lambda r: r["renewed"])
    assert done["expired_for_balance"] == sorted(set(expired) - {
        s["id"] for s in subs if not s["auto_renew"]})

    # every period charged once, audited once, and the subscription moved by exactly it
    paid = {sub_id: len(p) - 1 for sub_id, p in expected.items() if len(p) > 1}
    assert renewals(store_url) == renew_events(store_url) == paid_periods(store_url) == paid
    caught_up = subs[4]  # a month overdue: renewed twice, each period audited
    [(uid,)] = rows(store_url, f"SELECT uid FROM client WHERE id = {caught_up['client_id']}")
    changes = [c if isinstance(c, dict) else json.loads(c) for (c,) in rows(
        store_url, f"SELECT changes FROM audit_event WHERE entity_id = '{caught_up['id']}' "
                   "ORDER BY id")]
    p = expected[caught_up["id"]]
    assert changes == [{"before": {"current_period_end": str(start)},
                        "after": {"current_period_end": str(end)}, "client": uid,
                        "charged_cents": 1000, "by": "subscription.sweep"}
                       for start, end in zip(p, p[1:], strict=False)] and len(p) == 3
    state = ends(store_url)
    for sub_id, p in expected.items():
        assert state[sub_id] == ("expired" if sub_id in expired else "active", p[-1]), sub_id
    assert_balances_are_ledger_sums(store_url)
    assert rows(store_url, f"SELECT balance_cents FROM reseller WHERE id = {thin}") == [(999,)]

    third = finished(sweep_process(store_url, tmp_path))  # the same day: nothing is due
    assert (third["renewed"], third["expired"], third["charged_cents"]) == (0, 0, 0)
    assert renewals(store_url) == paid


def test_renewals_rewrite_their_rows_in_place_on_postgresql(run, store_url: str,  # noqa: ANN001
                                                            monkeypatch) -> None:  # noqa: ANN001
    """PostgreSQL: every renewal of the sweep is a heap-only (HOT) update, which writes no
    index entry: no index holds current_period_end, and inserts leave half of each page
    free for the renewals (migration 0007). Read in the sweep's own transaction, just
    before its commit; fails with an index on the column or with full pages."""
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL-only: heap-only updates")
    from sqlalchemy import event

    from resellctl.domain import subscriptions
    from resellctl.domain.context import Ctx
    from resellctl.store.engine import Store

    rich, clients = reseller(run, "acme", "100000", clients=2)
    add_subscriptions(store_url, [due(i, rich, clients[i % 2], date(2026, 6, 1 + i % 15),
                                      interval="monthly" if i % 3 else "yearly")
                                  for i in range(600)])
    seen: list[tuple] = []

    def before_commit(conn) -> None:  # noqa: ANN001
        with conn.connection.dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                           "WHERE relid = 'subscription'::regclass")
            seen.append(cursor.fetchone())

    monkeypatch.setenv("RESELLCTL_NOW", NOW)
    store = Store(store_url)
    try:
        event.listen(store.engine, "commit", before_commit)
        result = subscriptions.sweep(Ctx(store, "admin@vendor.example"))
    finally:
        store.dispose()
    assert result["subscriptions_renewed"] == 600
    assert [s for s in seen if s != (0, 0)] == [(600, 600)]


# ---------------------------------------------------------------- kill -9 mid-way

KILLED_ROWS = 20_000


def audit_lock_waited(store_url: str) -> bool:
    """PostgreSQL: another backend waits for a lock on this schema's audit_event."""
    schema = store_url.split("search_path%3D")[1].split("%20")[0]
    return rows(store_url, f"""
        SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = '{schema}' AND c.relname = 'audit_event' AND NOT l.granted
        """)[0][0] > 0


WAL_MID_SWEEP = 8 * 2**20  # bytes: ~40% of what the sweep of KILLED_ROWS logs in all


def wal_size(store_url: str) -> int:
    """SQLite: the size of the store's write-ahead log (0: there is none)."""
    wal = Path(store_url[len("sqlite:///"):] + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def empty_wal(store_url: str) -> None:
    """SQLite: checkpoint the log and truncate it, so that it grows from 0 with what the
    next transaction writes."""
    import sqlite3

    conn = sqlite3.connect(store_url[len("sqlite:///"):])
    try:
        assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0  # not busy
    finally:
        conn.close()
    assert wal_size(store_url) == 0


def kill_mid_sweep(store_url: str, tmp_path: Path) -> None:
    """Start a sweep and SIGKILL it in the middle of its transaction.

    PostgreSQL: this test holds audit_event in SHARE mode, so the sweep, which writes the
    audit events after the ledger entries, balances and subscriptions, stops there with
    those written but not committed; it is killed while it waits. SQLite: killed once it
    has written WAL_MID_SWEEP bytes to the write-ahead log (its changes outgrow the page
    cache and spill there long before its commit; nothing else writes meanwhile), well
    into its writes: a sweep that committed part of them separately (its ledger entries,
    say) would be caught half done."""
    from sqlalchemy import create_engine, text

    from resellctl.store.engine import driver_url

    postgres = not store_url.startswith("sqlite")
    holder = create_engine(driver_url(store_url)).connect() if postgres else None
    if holder is not None:
        holder.execute(text("LOCK TABLE audit_event IN SHARE MODE"))
    else:
        empty_wal(store_url)
    proc = sweep_process(store_url, tmp_path)
    deadline = time.monotonic() + 120
    try:
        while not (audit_lock_waited(store_url) if postgres
                   else wal_size(store_url) >= WAL_MID_SWEEP):
            assert proc.poll() is None, ("the sweep ended before the kill", proc.communicate())
            assert time.monotonic() < deadline, "the sweep never got mid-way"
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL  # killed, not finished
        if holder is not None:
            holder.rollback()
            holder.close()
            holder.engine.dispose()


@pytest.mark.slow
def test_a_killed_sweep_leaves_each_subscription_renewed_and_charged_or_untouched(
        run, store_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    rid, clients = reseller(run, "acme", "1000000", clients=4)
    subs = [due(i, rid, clients[i % 4], date(2026, 6, 1 + i % 15))
            for i in range(KILLED_ROWS)]
    add_subscriptions(store_url, subs)
    before = ends(store_url)

    kill_mid_sweep(store_url, tmp_path)

    charged, audited, after = renewals(store_url), renew_events(store_url), ends(store_url)
    moved = {sub_id for sub_id in after if after[sub_id] != before[sub_id]}
    assert set(charged) == set(audited) == set(paid_periods(store_url)) == moved  # all or none
    assert set(charged.values()) <= {1}
    for sub_id in moved:
        assert after[sub_id] == ("active", add_months(before[sub_id][1], 1))
    assert_balances_are_ledger_sums(store_url)
    assert moved == set()  # the sweep is one transaction, killed before its commit

    rerun = finished(sweep_process(store_url, tmp_path))
    assert rerun["renewed"] == KILLED_ROWS - len(moved)
    assert renewals(store_url) == renew_events(store_url) == paid_periods(store_url) == (
        dict.fromkeys(before, 1))
    assert {sub_id: end for sub_id, (_, end) in ends(store_url).items()} == {
        sub_id: add_months(end, 1) for sub_id, (_, end) in before.items()}
    assert_balances_are_ledger_sums(store_url)


# ---------------------------------------------------------------- interval arithmetic


def last_day(year: int, month: int) -> int:
    """The month's length, found without the calendar module: the day before the 1st of
    the next month."""
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return (first_next - timedelta(days=1)).day


STARTS = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))


@PROPERTIES
@given(start=STARTS, interval=st.sampled_from(list(MONTHS)), periods=st.integers(1, 36))
def test_a_period_ends_whole_calendar_months_later_on_the_start_day_clamped(
        start: date, interval: str, periods: int) -> None:
    end = period_end(start, interval, periods)
    months = MONTHS[interval] * periods
    assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == months
    assert end.day == min(start.day, last_day(end.year, end.month))
    assert end > start
    if start.day <= 28:
        assert end.day == start.day  # no clamping below the 29th
    if (end.month, end.day) == (2, 29):
        assert end.year % 4 == 0 and (end.year % 100 != 0 or end.year % 400 == 0)


@PROPERTIES
@given(start=STARTS, interval=st.sampled_from(list(MONTHS)), periods=st.integers(1, 36))
def test_renewing_period_by_period_never_drifts_from_the_anchored_day(
        start: date, interval: str, periods: int) -> None:
    """What the sweep does catching up (each end from the previous one, anchored on the
    start's day) lands where counting all the periods from the start does: Jan 31 →
    Feb 28 → Mar 31, never Mar 28."""
    end = start
    for n in range(1, periods + 1):
        end = add_months(end, MONTHS[interval], start.day)
        assert end == period_end(start, interval, n)


@PROPERTIES
@given(year=st.integers(1900, 2200), day=st.integers(29, 31))
def test_the_end_of_january_plus_a_month_is_the_last_day_of_february(year: int,
                                                                     day: int) -> None:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    end = period_end(date(year, 1, day), "monthly")
    assert end == date(year, 2, 29 if leap else 28)
    assert period_end(date(year, 1, day), "monthly", 2) == date(year, 3, day)


# ---------------------------------------------------------------- tier selection


@st.composite
def tier_lists(draw) -> list[dict]:  # noqa: ANN001
    """Tiers as the catalog keeps them: sorted, min 1 first, distinct mins; any prices
    (not always falling)."""
    mins = draw(st.lists(st.integers(2, 500), unique=True, max_size=6))
    cents = draw(st.lists(st.integers(0, 5000), min_size=len(mins) + 1,
                          max_size=len(mins) + 1))
    return [{"min": m, "unit_cents": c} for m, c in zip([1, *sorted(mins)], cents, strict=True)]


@PROPERTIES
@given(tiers=tier_lists(), quantity=st.integers(1, 1000))
def test_the_tier_is_the_one_with_the_largest_min_not_above_the_quantity(
        tiers: list[dict], quantity: int) -> None:
    tier = catalog.tier_for(tiers, quantity)
    assert tier["min"] <= quantity
    assert not [t for t in tiers if tier["min"] < t["min"] <= quantity]
    priced = tier_price(tiers, quantity)
    assert (priced["tier_min"], priced["unit_cents"]) == (tier["min"], tier["unit_cents"])


@PROPERTIES
@given(tiers=tier_lists(), quantity=st.integers(1, 1000))
def test_the_next_tier_is_suggested_only_when_it_is_cheaper_and_close(
        tiers: list[dict], quantity: int) -> None:
    priced = tier_price(tiers, quantity)
    cheaper = [t for t in tiers if t["min"] > quantity and t["unit_cents"] < priced["unit_cents"]]
    close = [t for t in cheaper if (t["min"] - quantity) * 4 <= quantity]  # a quarter more
    if priced["next_tier_min"] is None:
        assert priced["next_tier_unit_cents"] is None
        assert close == []
        return
    suggested = catalog.tier_for(tiers, priced["next_tier_min"])
    assert suggested["min"] == priced["next_tier_min"] > quantity
    assert suggested["unit_cents"] == priced["next_tier_unit_cents"] < priced["unit_cents"]
    assert suggested == close[0]  # the nearest cheaper tier: nothing cheaper before it


# ---------------------------------------------------------------- the list as CSV


def test_the_csv_export_is_what_the_generic_csv_writer_makes_of_the_list(run) -> None:  # noqa: ANN001
    """`subscription list -o csv` is formatted by the database (COPY on PostgreSQL): the
    same text as output.py's csv of the list's dicts, for formula-like names, a direct
    client (no reseller), pending ones (no dates), MRR halves rounded to even, and the
    largest period price there is (2,147,483,647 cents: docs/rules.md)."""
    import io

    from resellctl.cli.output import emit
    from resellctl.domain import subscriptions
    from resellctl.domain.context import Ctx
    from resellctl.store.engine import Store

    reseller(run, "acme", "100000", clients=0)
    uids = [ok(run("client", "create", "-r", "acme", "--name", name, "--owner-name", "O",
                   "--owner-email", f"o{i}@acme.example", "-o", "json"))["uid"]
            for i, name in enumerate(["=HYPERLINK(1)", "+Shop", "-Minus", "@At", "Plain, Co"])]
    uids.append(ok(run("client", "create", "--name", "Direct", "--owner-name", "D",
                       "--owner-email", "d@direct.example", "-o", "json"))["uid"])
    made = []
    for i, uid in enumerate(uids):
        for quantity, price, interval in [(1, "0.03", "biannual"), (3, "0.03", "biannual"),
                                          (3, "0.05", "yearly"), (100000, "214.74",
                                                                  "quarterly")][i % 2::2]:
            made.append(ok(run("subscription", "create", uid, "--plan", "enterprise",
                               "--quantity", str(quantity), "--unit-price", price,
                               "--interval", interval, "-o", "json"))["id"])
        made.append(ok(run("subscription", "create", uid, "--plan", "business-location",
                           "--quantity", str(1 + i), "-o", "json"))["id"])
    for sub in made[::3]:
        ok(run("subscription", "activate", sub, "-o", "json"))
    ok(run("subscription", "pause", made[3], "-o", "json"))

    exported = run("subscription", "list", "-o", "csv")
    assert exported.exit_code == 0 and exported.stderr == "", exported.stderr
    expected = io.StringIO()
    store = Store(run.url)
    try:
        emit(subscriptions.iter_subscriptions(Ctx(store, "admin@vendor.example")), "csv",
             columns=list(subscriptions.OUTPUT), out=expected)
        # a whole scope runs on prepared SQL (domain/subscription_csv.py): the same text
        # as the SQLAlchemy export, for the channel, one reseller and a member's
        for actor, scope in [("admin@vendor.example", None), ("admin@vendor.example", "acme"),
                             (ANA, None)]:
            through_sqlalchemy = io.StringIO()
            subscriptions.export_csv(Ctx(store, actor), through_sqlalchemy, reseller=scope)
            prepared = run("subscription", "list", "-o", "csv", *(("-r", scope) if scope
                                                                   else ()), actor=actor)
            assert prepared.stdout == through_sqlalchemy.getvalue(), (actor, scope)
            assert len(prepared.stdout.splitlines()) == 1 + len(made) - (3 if scope or actor
                                                                        == ANA else 0)
    finally:
        store.dispose()
    assert exported.stdout == expected.getvalue()
    assert len(exported.stdout.splitlines()) == 1 + len(made)
    assert "'=HYPERLINK(1)" in exported.stdout and ",0.5" not in exported.stdout
    assert ",2147400000," in exported.stdout  # 100,000 × $214.74 a quarter, in cents
    filtered = run("subscription", "list", "-o", "csv", "--status", "active", "--limit", "2",
                   "--offset", "1", "-r", "acme")
    assert filtered.stdout.splitlines()[0] == ",".join(subscriptions.OUTPUT)
    assert len(filtered.stdout.splitlines()) == 3
