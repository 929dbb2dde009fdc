"""Subscriptions through the CLI on both stores: quote, create, activate, renew, pause,
resume, cancel, edit, list, show, sweep; the ledger and audit they write; billing status."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from helpers import ok

from resellctl.domain.subscriptions import add_months, period_end, total_mrr

ANA = "ana@acme.example"
VIEW = "vic@acme.example"
NOW = "2026-03-10T12:00:00Z"
PLAN = "business-location"  # monthly 1+ $15.00 · 50+ $12.00; quarterly $43; yearly $150


def fails(result, code: int, *fragments: str) -> dict:  # noqa: ANN001
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    error = json.loads(result.stderr)["error"]
    assert error["exit_code"] == code
    for fragment in fragments:
        assert fragment in error["message"], (fragment, error)
    return error


@pytest.fixture
def at(run):  # noqa: ANN001, ANN201
    """`at(when, *args)`: run as the super admin with RESELLCTL_NOW=when, -o json."""
    def call(when: str, *args: str, actor: str | None = "default"):  # noqa: ANN202
        return run(*args, "-o", "json", env={"RESELLCTL_NOW": when}, actor=actor)
    return call


@pytest.fixture
def acme(run, at):  # noqa: ANN001, ANN201
    """Partner-supported `acme` (admin ana, viewer vic), 20 licences, a $1,000.00 balance,
    and a lead client; returns the client's uid."""
    ok(at(NOW, "user", "create", ANA))
    ok(at(NOW, "user", "create", VIEW))
    ok(at(NOW, "reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", ANA,
          "--licenses", "20", "--partner-supported"))
    ok(at(NOW, "reseller", "member", "add", "acme", VIEW, "--role", "viewer"))
    ok(at(NOW, "reseller", "balance", "top-up", "acme", "1000"))
    return new_client(at, "Bakery Li")


def new_client(at, name: str, *extra: str, reseller: str = "acme") -> str:  # noqa: ANN001
    return ok(at(NOW, "client", "create", "-r", reseller, "--name", name, "--owner-name", "Li",
                 "--owner-email", f"{name.split()[0].lower()}@{reseller}.example",
                 *extra))["uid"]


def balance(at) -> int:  # noqa: ANN001
    return ok(at(NOW, "reseller", "balance", "show", "acme"))["balance_cents"]


def ledger(at) -> list[dict]:  # noqa: ANN001
    return ok(at(NOW, "reseller", "balance", "history", "acme"))


def create(at, uid: str, *args: str, when: str = NOW) -> dict:  # noqa: ANN001
    return ok(at(when, "subscription", "create", uid, "--plan", PLAN, *args))


# ---------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(("start", "months", "end"), [
    (date(2026, 1, 31), 1, date(2026, 2, 28)), (date(2028, 1, 31), 1, date(2028, 2, 29)),
    (date(2026, 1, 31), 2, date(2026, 3, 31)), (date(2026, 11, 30), 3, date(2027, 2, 28)),
    (date(2026, 12, 15), 12, date(2027, 12, 15)), (date(2026, 8, 31), 6, date(2027, 2, 28))])
def test_calendar_months_clamp_the_day(start, months, end):
    assert add_months(start, months) == end


def test_a_period_keeps_its_start_day_after_a_short_month():
    start = date(2026, 1, 31)
    feb = period_end(start, "monthly")
    assert feb == date(2026, 2, 28)
    assert add_months(feb, 1, start.day) == date(2026, 3, 31)  # not Mar 28


def test_mrr_is_rounded_once_after_the_sum():
    assert total_mrr([(100, "quarterly")] * 3) == 100  # 33.33… × 3, not 33 × 3 = 99
    assert total_mrr([(1000, "yearly"), (1500, "monthly")]) == 1583  # 83.33 + 1500
    assert total_mrr([]) == 0


# ---------------------------------------------------------------- quote


def test_quote_picks_the_tier_and_suggests_the_next(acme, at):
    quote = ok(at(NOW, "subscription", "quote", "--plan", PLAN, "--quantity", "45"))
    assert {k: quote[k] for k in ("plan", "quantity", "interval", "tier_min", "unit_cents",
                                  "period_cents", "mrr_cents", "currency", "next_tier_min",
                                  "next_tier_unit_cents")} == {
        "plan": PLAN, "quantity": 45, "interval": "monthly", "tier_min": 1,
        "unit_cents": 1500, "period_cents": 67500, "mrr_cents": 67500, "currency": "USD",
        "next_tier_min": 50, "next_tier_unit_cents": 1200}
    far = ok(at(NOW, "subscription", "quote", "--plan", PLAN, "--quantity", "10"))
    assert far["next_tier_min"] is None  # 40 more is not "a few more"
    yearly = ok(at(NOW, "subscription", "quote", "--plan", PLAN, "--quantity", "2",
                   "--interval", "yearly"))
    assert (yearly["period_cents"], yearly["mrr_cents"]) == (30000, 2500)
    custom = ok(at(NOW, "subscription", "quote", "--plan", "enterprise", "--quantity", "3"))
    assert custom["custom"] is True and custom["unit_cents"] is None
    assert "per contract" in custom["note"]
    table = at(NOW, "subscription", "quote", "--plan", "enterprise", "--quantity", "3")
    assert table.exit_code == 0


def test_quote_refusals(acme, at):
    fails(at(NOW, "subscription", "quote", "--plan", "nope", "--quantity", "1"), 3, "nope")
    fails(at(NOW, "subscription", "quote", "--plan", PLAN, "--quantity", "0"), 5)
    fails(at(NOW, "subscription", "quote", "--plan", PLAN, "--quantity", "-5"), 5)
    error = fails(at(NOW, "subscription", "quote", "--plan", PLAN, "--quantity", "1",
                     "--interval", "weekly"), 5, "weekly")
    assert "monthly, quarterly, biannual, yearly" in error["message"]


# ---------------------------------------------------------------- create


def test_create_locks_the_price_and_a_catalog_reload_changes_nothing(acme, at, tmp_path):
    sub = create(at, acme, "--quantity", "60")
    assert (sub["status"], sub["unit_cents"], sub["period_cents"]) == ("pending", 1200, 72000)
    assert sub["id"].startswith("sub_") and sub["client"] == acme and sub["reseller"] == "acme"
    assert set(sub) >= {"id", "client", "reseller", "plan", "plan_name", "quantity",
                        "interval", "unit_cents", "period_cents", "mrr_cents", "status",
                        "auto_renew", "start_date", "current_period_end", "activated_at",
                        "created_at"}
    catalog = tmp_path / "catalog.toml"
    catalog.write_text('currency = "USD"\nlicense_tiers = [{min = 1, unit_cents = 2500}]\n'
                       '[[plans]]\ncode = "business-location"\nname = "BL"\n'
                       '[plans.prices]\nmonthly = [{min = 1, unit_cents = 9900}]\n')
    ok(at(NOW, "subscription", "plans", "load", str(catalog)))
    shown = ok(at(NOW, "subscription", "show", sub["id"]))
    assert (shown["unit_cents"], shown["plan_name"]) == (1200, "Business Location")


def test_create_refusals(acme, at, run):
    fails(at(NOW, "subscription", "create", acme, "--plan", PLAN, "--quantity", "1",
             "--interval", "weekly"), 5, "offers monthly")
    fails(at(NOW, "subscription", "create", acme, "--plan", "enterprise", "--quantity", "1"),
          5, "--unit-price")
    fails(at(NOW, "subscription", "create", acme, "--plan", PLAN, "--quantity", "1",
             "--unit-price", "10"), 5, "custom")
    fails(at(NOW, "subscription", "create", "cl_00000000000000000000", "--plan", PLAN,
             "--quantity", "1"), 3)
    fails(at(NOW, "subscription", "create", acme, "--plan", PLAN, "--quantity", "1",
             actor=VIEW), 6)
    custom = ok(at(NOW, "subscription", "create", acme, "--plan", "enterprise",
                   "--quantity", "2", "--unit-price", "99.50", "--interval", "yearly"))
    assert (custom["unit_cents"], custom["period_cents"], custom["mrr_cents"]) == (
        9950, 19900, 1658)
    ok(at(NOW, "client", "deactivate", acme))
    fails(at(NOW, "subscription", "create", acme, "--plan", PLAN, "--quantity", "1"), 4,
          "deactivated")


def test_support_type_on_create_changes_the_client_with_the_client_rules(acme, at):
    assert ok(at(NOW, "client", "show", acme))["support_type"] == "partner"
    create(at, acme, "--quantity", "1", "--support-type", "vendor")
    assert ok(at(NOW, "client", "show", acme))["support_type"] == "vendor"
    ok(at(NOW, "user", "create", "bo@beta.example"))
    ok(at(NOW, "reseller", "create", "--slug", "beta", "--name", "Beta", "--owner",
          "bo@beta.example", "--licenses", "2"))
    direct = new_client(at, "Beta Shop", reseller="beta")
    fails(at(NOW, "subscription", "create", direct, "--plan", PLAN, "--quantity", "1",
             "--support-type", "partner"), 5, "partner")
    assert ok(at(NOW, "subscription", "list", "--client", direct)) == []


# ---------------------------------------------------------------- activate


def test_activation_charges_the_first_period_and_moves_the_stage(acme, at):
    sub = create(at, acme, "--quantity", "10")
    active = ok(at(NOW, "subscription", "activate", sub["id"]))
    assert (active["status"], active["start_date"], active["current_period_end"]) == (
        "active", "2026-03-10", "2026-04-10")
    assert balance(at) == 100000 - 15000
    [entry] = [e for e in ledger(at) if e["kind"] == "activation"]
    assert (entry["amount_cents"], entry["subscription_id"]) == (-15000, sub["id"])
    client = ok(at(NOW, "client", "show", acme))
    assert (client["stage"], client["billing_status"], client["plan"]) == (
        "active", "active", None)
    actions = [e["action"] for e in ok(at(NOW, "audit", "list", "--entity", sub["id"]))]
    assert actions == ["subscription.activate", "subscription.create"]
    again = fails(at(NOW, "subscription", "activate", sub["id"]), 4, "active")
    assert again["code"] == "not_pending"


def test_a_trial_starts_the_day_after_it_ends(acme, at):
    trial = new_client(at, "Trial Co", "--stage", "trial")  # ends 2026-03-31 (21 days)
    sub = create(at, trial, "--quantity", "1", "--interval", "quarterly")
    active = ok(at(NOW, "subscription", "activate", sub["id"]))
    assert (active["start_date"], active["current_period_end"]) == ("2026-04-01",
                                                                    "2026-07-01")
    assert ok(at(NOW, "client", "show", trial))["stage"] == "active"


def test_a_short_balance_changes_nothing(acme, at):
    sub = create(at, acme, "--quantity", "100")  # 100 × $12.00 = $1,200.00 > $1,000.00
    error = fails(at(NOW, "subscription", "activate", sub["id"]), 7, "$1,000.00",
                  "$1,200.00")
    assert error["code"] == "insufficient_balance"
    shown = ok(at(NOW, "subscription", "show", sub["id"]))
    assert (shown["status"], shown["start_date"]) == ("pending", None)
    assert balance(at) == 100000
    assert ok(at(NOW, "client", "show", acme))["stage"] == "lead"


def test_an_idempotency_key_charges_once(acme, at):
    sub = create(at, acme, "--quantity", "2")
    first = ok(at(NOW, "subscription", "activate", sub["id"], "--idempotency-key", "K1"))
    replay = ok(at(NOW, "subscription", "activate", sub["id"], "--idempotency-key", "K1"))
    assert (first["replayed"], replay["replayed"]) == (False, True)
    assert balance(at) == 100000 - 3000
    other = create(at, acme, "--quantity", "2")
    fails(at(NOW, "subscription", "activate", other["id"], "--idempotency-key", "K1"), 4)


# ---------------------------------------------------------------- renew, pause, cancel, edit


def test_renew_extends_from_the_old_end_or_from_today_when_expired(acme, at):
    sub = create(at, acme, "--quantity", "1", "--no-auto-renew")
    ok(at(NOW, "subscription", "activate", sub["id"]))
    renewed = ok(at(NOW, "subscription", "renew", sub["id"]))
    assert renewed["current_period_end"] == "2026-05-10"
    assert [e["kind"] for e in ledger(at)][:2] == ["renewal", "activation"]
    swept = ok(at("2026-06-01T00:00:00Z", "subscription", "sweep"))
    assert (swept["expired"], swept["renewed"]) == (1, 0)
    late = ok(at("2026-06-01T00:00:00Z", "subscription", "renew", sub["id"]))
    assert (late["status"], late["start_date"], late["current_period_end"]) == (
        "active", "2026-06-01", "2026-07-01")


def test_pause_resume_charge_nothing_and_cancel_ends_now(acme, at, run):
    sub = create(at, acme, "--quantity", "1")
    fails(at(NOW, "subscription", "pause", sub["id"]), 4, "pending")
    ok(at(NOW, "subscription", "activate", sub["id"]))
    spent = balance(at)
    assert ok(at(NOW, "subscription", "pause", sub["id"]))["status"] == "paused"
    assert ok(at(NOW, "client", "show", acme))["billing_status"] == "paused"
    assert ok(at(NOW, "subscription", "resume", sub["id"]))["status"] == "active"
    assert balance(at) == spent
    refused = run("subscription", "cancel", sub["id"])  # no terminal, no --yes
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    later = "2026-03-20T08:00:00Z"
    cancelled = ok(at(later, "subscription", "cancel", sub["id"], "--yes"))
    assert (cancelled["status"], cancelled["current_period_end"]) == ("cancelled",
                                                                      "2026-03-20")
    assert balance(at) == spent  # no refund
    fails(at(NOW, "subscription", "renew", sub["id"]), 4)
    fails(at(NOW, "subscription", "edit", sub["id"], "--quantity", "3"), 4, "cancelled")


def test_edits_wait_for_the_renewal_and_show_says_what_it_will_cost(acme, at):
    pending = create(at, acme, "--quantity", "10")
    repriced = ok(at(NOW, "subscription", "edit", pending["id"], "--quantity", "50"))
    assert (repriced["quantity"], repriced["unit_cents"]) == (50, 1200)  # pending: now
    ok(at(NOW, "subscription", "edit", pending["id"], "--quantity", "10"))
    ok(at(NOW, "subscription", "activate", pending["id"]))
    edited = ok(at(NOW, "subscription", "edit", pending["id"], "--quantity", "60",
                   "--no-auto-renew"))
    assert (edited["quantity"], edited["period_cents"], edited["auto_renew"]) == (
        10, 15000, False)
    assert (edited["next_quantity"], edited["next_unit_cents"], edited["next_period_cents"],
            edited["change_at_renewal"]) == (60, 1200, 72000, True)
    renewed = ok(at(NOW, "subscription", "renew", pending["id"]))
    assert (renewed["quantity"], renewed["unit_cents"], renewed["change_at_renewal"]) == (
        60, 1200, False)
    assert ledger(at)[0]["amount_cents"] == -72000
    nothing = at(NOW, "subscription", "edit", pending["id"])
    assert nothing.exit_code == 2


# ---------------------------------------------------------------- list and scoping


def test_list_filters_formats_and_scoping(acme, at, run):
    other = new_client(at, "Other Shop")
    a = create(at, acme, "--quantity", "1")
    b = create(at, other, "--quantity", "2", "--interval", "yearly")
    ok(at(NOW, "subscription", "activate", a["id"]))
    ok(at(NOW, "subscription", "activate", b["id"]))
    listed = ok(at(NOW, "subscription", "list"))
    assert [s["id"] for s in listed] == [a["id"], b["id"]]  # soonest renewal first
    assert [s["id"] for s in ok(at(NOW, "subscription", "list", "--client", other))] == [
        b["id"]]
    assert [s["id"] for s in ok(at(NOW, "subscription", "list", "--renewing-within",
                                   "31d"))] == [a["id"]]
    assert ok(at(NOW, "subscription", "list", "--status", "pending")) == []
    fails(at(NOW, "subscription", "list", "--status", "gone"), 5)
    rows = list(csv.DictReader(io.StringIO(run("subscription", "list", "-o", "csv").stdout)))
    assert [(r["id"], r["period_cents"]) for r in rows] == [(a["id"], "1500"),
                                                            (b["id"], "30000")]
    ndjson = run("subscription", "list", "-o", "ndjson").stdout.splitlines()
    assert [json.loads(line)["id"] for line in ndjson] == [a["id"], b["id"]]
    table = run("subscription", "list").stdout
    assert "Business Location × 1" in table and "$1,500.00" not in table and "$15.00" in table
    # another reseller's admin sees none of it
    ok(at(NOW, "user", "create", "bo@beta.example"))
    ok(at(NOW, "reseller", "create", "--slug", "beta", "--name", "Beta", "--owner",
          "bo@beta.example"))
    bo = "bo@beta.example"
    assert ok(at(NOW, "subscription", "list", actor=bo)) == []
    for command in (["show", a["id"]], ["pause", a["id"]], ["renew", a["id"]],
                    ["edit", a["id"], "--quantity", "2"], ["cancel", a["id"], "-y"]):
        fails(at(NOW, "subscription", *command, actor=bo), 3)
    fails(at(NOW, "subscription", "list", "--client", acme, actor=bo), 3)
    fails(at(NOW, "subscription", "list", "-r", "acme", actor=bo), 3)
    # the viewer reads, but cannot change
    assert len(ok(at(NOW, "subscription", "list", actor=VIEW))) == 2
    fails(at(NOW, "subscription", "pause", a["id"], actor=VIEW), 6)


# ---------------------------------------------------------------- the sweep


def test_the_sweep_renews_catches_up_and_expires(acme, at):
    steady = create(at, acme, "--quantity", "10")  # $150.00 a month
    ok(at(NOW, "subscription", "activate", steady["id"]))  # ends 2026-04-10
    stop = create(at, acme, "--quantity", "1", "--no-auto-renew")
    ok(at(NOW, "subscription", "activate", stop["id"]))
    assert balance(at) == 100000 - 15000 - 1500
    later = "2026-06-15T06:00:00Z"  # three periods due: 04-10, 05-10, 06-10
    swept = ok(at(later, "subscription", "sweep"))
    assert swept == {"renewed": 3, "subscriptions_renewed": 1, "expired": 1,
                     "charged_cents": 45000, "expired_for_balance": []}
    shown = ok(at(later, "subscription", "show", steady["id"]))
    assert (shown["status"], shown["current_period_end"]) == ("active", "2026-07-10")
    assert ok(at(later, "subscription", "show", stop["id"]))["status"] == "expired"
    renewals = [e for e in ledger(at) if e["kind"] == "renewal"]
    assert [e["subscription_id"] for e in renewals] == [steady["id"]] * 3
    assert [e["balance_after_cents"] for e in reversed(renewals)] == [68500, 53500, 38500]
    assert balance(at) == 38500
    # the same day again: nothing
    assert ok(at(later, "subscription", "sweep")) == {
        "renewed": 0, "subscriptions_renewed": 0, "expired": 0, "charged_cents": 0,
        "expired_for_balance": []}
    assert balance(at) == 38500
    events = ok(at(later, "audit", "list", "--entity", steady["id"]))
    assert [e["action"] for e in events][:3] == ["subscription.renew"] * 3
    expired = ok(at(later, "audit", "list", "--entity", stop["id"]))[0]
    assert expired["action"] == "subscription.expire"


def test_a_short_balance_renews_what_it_covers_then_expires(acme, at):
    sub = create(at, acme, "--quantity", "20")  # $300.00 a month
    ok(at(NOW, "subscription", "activate", sub["id"]))  # $700.00 left
    swept = ok(at("2026-08-11T00:00:00Z", "subscription", "sweep"))  # 5 periods due
    assert (swept["renewed"], swept["expired"], swept["charged_cents"],
            swept["expired_for_balance"]) == (2, 1, 60000, [sub["id"]])
    shown = ok(at(NOW, "subscription", "show", sub["id"]))
    assert (shown["status"], shown["current_period_end"]) == ("expired", "2026-06-10")
    assert balance(at) == 10000
    assert ok(at(NOW, "client", "show", acme))["billing_status"] == "expired"


def test_the_sweep_is_for_super_admins(acme, at):
    fails(at(NOW, "subscription", "sweep", actor=ANA), 6)


def test_billing_status_and_plan_in_the_portfolio(acme, at, run):
    assert ok(at(NOW, "client", "show", acme))["billing_status"] == "none"
    trial = new_client(at, "Trial Co", "--stage", "trial", "--plan", PLAN)
    assert ok(at(NOW, "client", "show", trial))["billing_status"] == "trialing"
    table = run("client", "list", "-r", "acme", env={"RESELLCTL_NOW": NOW}).stdout
    assert "trialing · business-location" in table
