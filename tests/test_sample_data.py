"""`init --sample-data`, both stores: a deterministic demo channel (two stores get the same
business data), every rule's invariant (balances = ledger sums, licence pools = active
clients, audit events), every stage, status, plan, interval and state present, six
months of snapshots ending in today's real figures, a refusal that writes nothing, and
the README's quick start ending with the dashboard in a real terminal."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import BACKENDS, Runner, new_store_url
from helpers import ok
from sqlalchemy import func, select
from test_entrypoint import clean_env
from test_tables_80 import in_terminal

from resellctl.cli.output import width
from resellctl.store import tables
from resellctl.store.engine import Store

ADMIN = "you@example.com"
NOW = "2026-03-18T15:30:00Z"
TODAY = date(2026, 3, 18)
T = tables


def sample(url: str, folder: Path, *args: str):  # noqa: ANN201
    """`init --sample-data` at NOW into `url`, with a config file of its own."""
    return Runner(url, None)("init", "--admin-email", ADMIN, "--sample-data", *args,
                             env={"RESELLCTL_NOW": NOW,
                                  "RESELLCTL_CONFIG": str(folder / "config.toml")})


@pytest.fixture(scope="module", params=BACKENDS)
def channel(request, tmp_path_factory):  # noqa: ANN001, ANN201
    """(store URL, init's JSON): one sample channel per store for the module's tests."""
    folder = tmp_path_factory.mktemp("sample")
    with new_store_url(request.param, folder) as url:
        yield url, ok(sample(url, folder, "-o", "json"))


@pytest.fixture
def at_now(channel):  # noqa: ANN001, ANN201
    """Run a command as the sample's admin at NOW; returns the parsed JSON."""
    runner = Runner(channel[0], ADMIN)
    return lambda *args: ok(runner(*args, "-o", "json", env={"RESELLCTL_NOW": NOW}))


def rows(url: str, query) -> list:  # noqa: ANN001
    store = Store(url)
    try:
        with store.read() as conn:
            return [tuple(row) for row in conn.execute(query)]
    finally:
        store.dispose()


def fingerprint(url: str) -> dict:
    """The business data, without ids, uids or tokens (clients are told by their names)."""
    client, sub, reseller = T.client, T.subscription, T.reseller
    slug = func.coalesce(reseller.c.slug, "")
    of_client = client.outerjoin(reseller, reseller.c.id == client.c.reseller_id)
    queries = {
        "resellers": select(reseller.c.slug, reseller.c.name, reseller.c.is_active,
                            reseller.c.partner_supported, reseller.c.license_count,
                            reseller.c.license_used, reseller.c.balance_cents,
                            reseller.c.domain),
        "users": select(T.user_account.c.email, T.user_account.c.name,
                        T.user_account.c.is_super_admin),
        "members": select(T.user_account.c.email, reseller.c.slug, T.membership.c.role)
        .join(T.membership, T.membership.c.user_id == T.user_account.c.id)
        .join(reseller, reseller.c.id == T.membership.c.reseller_id),
        "clients": select(slug, client.c.name, client.c.owner_email, client.c.location,
                          client.c.stage, client.c.status, client.c.deleted_at,
                          client.c.plan, client.c.seats_allocated, client.c.seats_used,
                          client.c.support_type, client.c.support_access,
                          client.c.trial_ends_at, client.c.external_id, client.c.created_at,
                          client.c.updated_at).select_from(of_client),
        "subscriptions": select(slug, client.c.name, sub.c.plan_code, sub.c.interval,
                                sub.c.status, sub.c.quantity, sub.c.unit_cents,
                                sub.c.auto_renew, sub.c.start_date, sub.c.current_period_end,
                                sub.c.next_quantity, sub.c.activated_at)
        .select_from(sub.join(client, client.c.id == sub.c.client_id)
                     .outerjoin(reseller, reseller.c.id == sub.c.reseller_id)),
        "ledger": select(reseller.c.slug, T.ledger_entry.c.kind, T.ledger_entry.c.amount_cents,
                         T.ledger_entry.c.balance_after_cents, T.ledger_entry.c.reference,
                         T.ledger_entry.c.actor_email, T.ledger_entry.c.created_at)
        .join(reseller, reseller.c.id == T.ledger_entry.c.reseller_id),
        "approvals": select(client.c.name, reseller.c.slug, T.approval.c.status,
                            T.approval.c.expires_at, T.approval.c.decided_by)
        .select_from(T.approval.join(client, client.c.id == T.approval.c.client_id)
                     .join(reseller, reseller.c.id == T.approval.c.reseller_id)),
        "sessions": select(client.c.name, T.support_session.c.opened_by,
                           T.support_session.c.reason, T.support_session.c.expires_at,
                           T.support_session.c.redeemed_at, T.support_session.c.ended_at)
        .join(client, client.c.id == T.support_session.c.client_id),
        "snapshots": select(reseller.c.slug, *[c for c in T.usage_snapshot.c
                                               if c.name not in ("id", "reseller_id")])
        .join(reseller, reseller.c.id == T.usage_snapshot.c.reseller_id),
        "audit": select(T.audit_event.c.action, T.audit_event.c.actor_email, func.count())
        .group_by(T.audit_event.c.action, T.audit_event.c.actor_email),
    }
    return {name: sorted(rows(url, query), key=repr) for name, query in queries.items()}


# ---------------------------------------------------------------- what init prints


def test_json_is_inits_with_the_samples_counts(channel) -> None:  # noqa: ANN001
    url, result = channel
    assert result["created_admin"] is True and result["admin_email"] == ADMIN
    assert result["loaded_default_catalog"] is True and result["profile"] == "default"
    counts = result["sample"]
    assert counts["resellers"] >= 5 and 250 <= counts["clients"] <= 400
    assert counts["snapshot_days"] == 183
    tally = {"resellers": T.reseller, "clients": T.client, "subscriptions": T.subscription,
             "ledger_entries": T.ledger_entry, "approvals": T.approval,
             "support_sessions": T.support_session, "snapshots": T.usage_snapshot,
             "audit_events": T.audit_event, "license_purchases": T.license_purchase}
    for key, table in tally.items():
        assert rows(url, select(func.count()).select_from(table)) == [(counts[key],)], key


def test_table_mode_ends_with_the_dashboard_and_writes_the_same_channel(
        channel, tmp_path) -> None:  # noqa: ANN001
    """Another store (SQLite: the same one as PostgreSQL's) gets the same business data;
    table mode ends with the dashboard, shown as the new admin whatever RESELLCTL_ACTOR."""
    with new_store_url("sqlite", tmp_path) as url:
        result = Runner(url, "someone@else.example")(
            "init", "--admin-email", ADMIN, "--sample-data",
            env={"RESELLCTL_NOW": NOW, "RESELLCTL_CONFIG": str(tmp_path / "config.toml")})
        assert result.exit_code == 0, result.stderr
        out = result.stdout
        assert "Added a sample channel: 6 resellers" in out
        assert out.index("Next: resellctl client list --reseller northwind-it") \
            < out.index("Dashboard · whole channel · 2026-03-18")
        for title in ("Clients", "Seats", "Licences", "Balance", "Subscriptions",
                      "Renewals, 30 days", "Resellers by MRR", "Recurring costs"):
            assert title in out
        assert "Seats used, 30 days" in out
        assert fingerprint(url) == fingerprint(channel[0])


# ---------------------------------------------------------------- everything is there


def test_every_stage_status_plan_interval_and_state_is_there(at_now) -> None:  # noqa: ANN001
    clients = at_now("client", "list", "--include-deleted")
    assert {c["stage"] for c in clients} == {"lead", "demo", "trial", "active", "at_risk",
                                              "churned"}
    assert Counter(c["status"] for c in clients)["deactivated"] >= 10
    assert 3 <= sum(c["deleted_at"] is not None for c in clients) <= 10
    assert sum(c["seats_used"] > c["seats_allocated"] for c in clients) >= 5
    assert sum(c["support_access"] for c in clients) >= 10
    assert {c["billing_status"] for c in clients} >= {"active", "trialing", "paused",
                                                      "expired", "none"}
    assert sum(c["reseller"] is None for c in clients) >= 3  # direct clients too
    subs = at_now("subscription", "list")
    assert {s["status"] for s in subs} == {"pending", "active", "paused", "cancelled",
                                           "expired"}
    active = {(s["plan"], s["interval"]) for s in subs if s["status"] == "active"}
    assert active == {(plan, interval) for plan in ("business-location", "enterprise")
                      for interval in ("monthly", "quarterly", "biannual", "yearly")}
    assert all(s["unit_cents"] > 0 for s in subs if s["plan"] == "enterprise")
    assert {a["status"] for a in at_now("approval", "list")} == {
        "pending", "approved", "rejected", "revoked", "expired"}
    assert {s["status"] for s in at_now("support", "list")} == {
        "active", "redeemed", "ended", "expired"}


def test_resellers_members_and_money(channel, at_now) -> None:  # noqa: ANN001
    listed = at_now("reseller", "list")
    assert len(listed) >= 5 and any(r["partner_supported"] for r in listed)
    assert [r["slug"] for r in listed if not r["is_active"]] == ["old-mill-systems"]
    roles = {m["role"] for r in listed for m in at_now("reseller", "member", "list", r["slug"])}
    assert roles == {"admin", "support", "viewer"}
    kinds = Counter(kind for kind, in rows(channel[0], select(T.ledger_entry.c.kind)))
    assert kinds.keys() == {"top_up", "license_purchase", "activation", "renewal",
                            "adjustment"}
    assert kinds["renewal"] > kinds["activation"] / 2  # months of renewals since


# ---------------------------------------------------------------- invariants


def test_balances_are_ledger_sums_and_pools_count_active_clients(channel) -> None:  # noqa: ANN001
    url = channel[0]
    ledger = dict(rows(url, select(T.ledger_entry.c.reseller_id,
                                   func.sum(T.ledger_entry.c.amount_cents))
                       .group_by(T.ledger_entry.c.reseller_id)))
    holders = dict(rows(url, select(T.client.c.reseller_id, func.count())
                        .where(T.client.c.status == "active", T.client.c.deleted_at.is_(None))
                        .group_by(T.client.c.reseller_id)))
    for rid, balance, count, used in rows(url, select(
            T.reseller.c.id, T.reseller.c.balance_cents, T.reseller.c.license_count,
            T.reseller.c.license_used)):
        assert balance == ledger[rid] >= 0
        assert used == holders.get(rid, 0) <= count
    result = Runner(url, ADMIN)("license", "reconcile", "-o", "json",
                                env={"RESELLCTL_NOW": NOW})
    assert ok(result)["resellers"] == [] and result.json["orphans"] == []


def test_every_change_is_audited(channel) -> None:  # noqa: ANN001
    url = channel[0]
    actions = Counter(a for a, in rows(url, select(T.audit_event.c.action)))
    kinds = Counter(k for k, in rows(url, select(T.ledger_entry.c.kind)))
    assert actions["balance.top_up"] == kinds["top_up"]
    assert actions["balance.adjust"] == kinds["adjustment"]
    assert actions["license.purchase"] == kinds["license_purchase"]
    subs = rows(url, select(T.subscription.c.status, T.subscription.c.reseller_id))
    assert actions["subscription.create"] == len(subs)
    assert actions["subscription.activate"] == sum(status != "pending" for status, _ in subs)
    paid = rows(url, select(func.count()).select_from(T.audit_event).where(
        T.audit_event.c.action == "subscription.renew", T.audit_event.c.reseller_id.is_not(None)))
    assert paid == [(kinds["renewal"],)]
    imported = rows(url, select(func.count(func.distinct(T.client.c.import_id))))
    assert actions["client.import"] == imported[0][0]
    for action in ("reseller.create", "reseller.member_add", "reseller.deactivate",
                   "client.edit", "client.usage", "client.deactivate", "client.delete",
                   "subscription.pause", "subscription.cancel", "subscription.expire",
                   "approval.create", "approval.accept", "approval.reject",
                   "approval.revoke", "client.move", "support.open", "support.redeem",
                   "support.end", "user.create"):
        assert actions[action] > 0, action


# ---------------------------------------------------------------- snapshots


def test_six_months_of_daily_snapshots_end_in_todays_figures(channel, at_now) -> None:  # noqa: ANN001
    snap = T.usage_snapshot
    days = rows(channel[0], select(T.reseller.c.slug, snap.c.day)
                .join(T.reseller, T.reseller.c.id == snap.c.reseller_id))
    first = TODAY - timedelta(days=182)
    wanted = {first + timedelta(days=n) for n in range(183)}
    for slug in {s for s, _ in days}:
        assert {d for s, d in days if s == slug} == wanted, slug
    dashboard = {r["reseller"]: r for r in at_now("report", "dashboard")["resellers"]}
    columns = {"total_clients": "total_clients", "active_clients": "active_clients",
               "trial_clients": "trial_clients", "seats_allocated": "allocated_seats",
               "seats_used": "used_seats", "license_count": "license_count",
               "license_used": "license_used", "active_subscriptions": "active_subscriptions",
               "mrr_cents": "mrr_cents", "balance_cents": "balance_cents"}
    today = rows(channel[0], select(T.reseller.c.slug, *[snap.c[k] for k in columns])
                 .join(T.reseller, T.reseller.c.id == snap.c.reseller_id)
                 .where(snap.c.day == TODAY))
    for slug, *values in today:
        assert dict(zip(columns, values, strict=True)) == {
            k: dashboard[slug][v] for k, v in columns.items()}, slug


def test_the_trend_grows_believably(channel, at_now) -> None:  # noqa: ANN001
    """Growth with noise, flatter at weekends: more seats used and MRR at the end than six
    months ago, never a figure that breaks a rule (active ≤ total, licences used ≤ held)."""
    series = at_now("report", "activity", "--range", "6m", "--metric", "mrr")
    assert len(series) == 183 and all(p["value"] is not None for p in series)
    assert series[-1]["value"] > 1.5 * series[0]["value"]
    seats = [p["value"] for p in at_now("report", "activity", "--range", "6m")]
    assert seats[-1] > seats[0] and len(set(seats)) > 100
    snap = T.usage_snapshot
    days = rows(channel[0], select(snap.c.reseller_id, snap.c.day, snap.c.total_clients)
                .order_by(snap.c.reseller_id, snap.c.day))
    moves: dict[bool, list[int]] = {True: [], False: []}  # weekend?: day-to-day changes
    for (rid, _, before), (same, day, after) in zip(days, days[1:], strict=False):
        if rid == same:
            moves[day.weekday() >= 5].append(abs(after - before))
    assert sum(moves[True]) / len(moves[True]) < sum(moves[False]) / len(moves[False]) / 3
    broken = rows(channel[0], select(func.count()).select_from(snap).where(
        (snap.c.active_clients > snap.c.total_clients)
        | (snap.c.license_used > snap.c.license_count) | (snap.c.seats_used < 0)
        | (snap.c.balance_cents < 0)))
    assert broken == [(0,)]


# ---------------------------------------------------------------- refusal


def test_a_store_with_resellers_is_refused_and_nothing_is_written(run, tmp_path) -> None:  # noqa: ANN001
    ok(run("user", "create", "ana@acme.example", "-o", "json"))
    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner",
           "ana@acme.example", "-o", "json"))
    before = fingerprint(run.url)
    config = tmp_path / "config" / "config.toml"
    result = run("init", "--admin-email", ADMIN, "--sample-data")
    assert result.exit_code == 4 and result.stdout == ""
    assert result.stderr.startswith("Error: the store already holds resellers or clients")
    assert "Hint: try it in a store of its own: `resellctl --profile demo --db " in result.stderr
    failed = run("init", "--admin-email", ADMIN, "--sample-data", "-o", "json")
    assert failed.exit_code == 4 and failed.stdout == ""
    assert json.loads(failed.stderr)["error"]["code"] == "store_not_empty"
    assert fingerprint(run.url) == before and not config.exists()


def test_a_store_with_only_direct_clients_is_refused_too(run) -> None:  # noqa: ANN001
    ok(run("client", "create", "--name", "Solo", "--owner-name", "S", "--owner-email",
           "s@solo.example", "-o", "json"))
    result = run("init", "--admin-email", ADMIN, "--sample-data", "-o", "json")
    assert result.exit_code == 4
    assert json.loads(result.stderr)["error"]["code"] == "store_not_empty"


# ---------------------------------------------------------------- the README's quick start


def test_readme_quick_start_ends_with_the_dashboard_in_a_terminal(tmp_path) -> None:
    """`resellctl init --admin-email you@example.com --sample-data` with nothing set up: the
    default store, and the whole dashboard on an 80-column terminal."""
    screen = in_terminal(["init", "--admin-email", ADMIN, "--sample-data"], clean_env(tmp_path))
    assert "Created super admin you@example.com." in screen
    lines = screen.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("Dashboard · whole"))
    said = next(line for line in lines if line.startswith("Added a sample channel: 6 resellers"))
    assert all(width(line) <= 80 for line in [said, *lines[start:]])
    shown = "\n".join(lines[start:])
    for part in ("Clients", "Licences", "Subscriptions", "MRR", "Resellers by MRR",
                 "northwind-it", "Recently changed clients", "Recurring costs", "yearly"):
        assert part in shown, part
    assert (tmp_path / "xdg-data" / "resellctl" / "resellctl.db").exists()


# ---------------------------------------------------------------- the clock


def test_a_frozen_clock_wins_over_resellctl_now_nests_and_comes_back(monkeypatch) -> None:  # noqa: ANN001
    from datetime import UTC, datetime

    from resellctl.domain import clock

    monkeypatch.setenv("RESELLCTL_NOW", NOW)
    past, earlier = datetime(2025, 6, 1, 9, 30, tzinfo=UTC), datetime(2025, 1, 2, 3, 4)
    with clock.frozen(past):
        assert clock.now() == past and clock.today() == date(2025, 6, 1)
        with clock.frozen(earlier) as inner:
            assert clock.now() == inner == earlier.replace(tzinfo=UTC)
        assert clock.now() == past
    assert clock.iso(clock.now()) == NOW
