"""`license ...` and `reseller balance ...`: pools, quotes, grants, purchases, reconcile,
the ledger, idempotency keys.

Every test runs on SQLite and PostgreSQL, and every test ends by checking that each
reseller's cached balance equals the sum of its ledger and is not negative.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from helpers import ok

ADMIN = "admin@vendor.example"
ANA = "ana@acme.example"
BO = "bo@acme.example"
VIC = "vic@acme.example"
ZED = "zed@beta.example"
POOL_FIELDS = ["reseller", "license_count", "license_used", "license_available"]
QUOTE_FIELDS = {"quantity", "tier_min", "unit_cents", "total_cents", "currency",
                "next_tier_min", "next_tier_total_cents"}
PURCHASE_FIELDS = ["reseller", "quantity", "unit_cents", "total_cents", "license_count",
                   "balance_cents"]
ENTRY_FIELDS = ["id", "kind", "amount_cents", "balance_after_cents", "reference",
                "subscription_id", "actor", "created_at"]


# ---------------------------------------------------------------- helpers



def fails(result, code: int, *fragments: str) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") or result.stderr.startswith("Usage: "), \
        result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    return result.stderr


def sql(url: str, statement: str, params: dict | None = None) -> list[tuple]:
    """Raw SQL on the store, in its own transaction, around the product's code."""
    from sqlalchemy import text

    from resellctl.store.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params or {})
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def money_state(url: str) -> dict:
    """Everything a money-moving command may change."""
    return {
        "resellers": sql(url, "SELECT slug, license_count, license_used, balance_cents "
                              "FROM reseller ORDER BY slug"),
        "ledger": sql(url, "SELECT id, reseller_id, kind, amount_cents, balance_after_cents "
                           "FROM ledger_entry ORDER BY id"),
        "audit": sql(url, "SELECT id, action FROM audit_event ORDER BY id"),
        "purchases": sql(url, "SELECT id, quantity, total_cents FROM license_purchase"),
        "keys": sql(url, "SELECT key, request_hash FROM idempotency_key ORDER BY key"),
    }


def assert_balances_match_ledger(url: str) -> None:
    rows = sql(url, "SELECT r.slug, r.balance_cents, COALESCE(SUM(l.amount_cents), 0) "
                    "FROM reseller r LEFT JOIN ledger_entry l ON l.reseller_id = r.id "
                    "GROUP BY r.slug, r.balance_cents")
    for slug, balance, total in rows:
        assert balance == total, f"{slug}: balance {balance} != ledger sum {total}"
        assert balance >= 0, f"{slug}: negative balance {balance}"
    # every entry records the running balance after it
    entries = sql(url, "SELECT reseller_id, amount_cents, balance_after_cents "
                       "FROM ledger_entry ORDER BY reseller_id, id")
    running: dict[int, int] = {}
    for reseller_id, amount, after in entries:
        running[reseller_id] = running.get(reseller_id, 0) + amount
        assert after == running[reseller_id]


@pytest.fixture(autouse=True)
def balances_match_the_ledger(store_url: str):
    yield
    assert_balances_match_ledger(store_url)


def take(url: str, slug: str, count: int = 1) -> int:
    """Take licences through the one chokepoint, as client creation does."""
    from sqlalchemy import select

    from resellctl.domain import licenses
    from resellctl.domain.access import RESELLER
    from resellctl.store.engine import Store

    store = Store(url)
    try:
        with store.write() as conn:
            reseller_id = conn.execute(select(RESELLER.c.id)
                                       .where(RESELLER.c.slug == slug)).scalar_one()
            return licenses.take(conn, reseller_id, count)
    finally:
        store.dispose()


def add_clients(url: str, slug: str | None, *statuses: str, deleted: bool = False) -> None:
    """Insert clients behind the product's back (to create drift and orphans)."""
    import uuid

    from sqlalchemy import insert, select

    from resellctl.domain.access import RESELLER
    from resellctl.store.engine import make_engine
    from resellctl.store.models import Client

    engine = make_engine(url)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            reseller_id = None if slug is None else conn.execute(
                select(RESELLER.c.id).where(RESELLER.c.slug == slug)).scalar_one()
            conn.execute(insert(Client.__table__), [
                {"uid": "c" + uuid.uuid4().hex[:12], "reseller_id": reseller_id,
                 "name": f"Client {i}", "owner_name": "Owner", "owner_email": "o@c.example",
                 "stage": "trial", "status": status, "seats_allocated": 1, "seats_used": 0,
                 "support_type": "vendor", "support_access": False,
                 "deleted_at": now if deleted else None, "created_at": now, "updated_at": now}
                for i, status in enumerate(statuses)])
    finally:
        engine.dispose()


def pool(run, slug: str) -> dict:
    return ok(run("license", "show", slug, "-o", "json"))


def balance(run, slug: str) -> int:
    return ok(run("reseller", "balance", "show", slug, "-o", "json"))["balance_cents"]


def actions(run, prefix: str) -> list[str]:
    return [e["action"] for e in reversed(ok(run("audit", "list", "--action", prefix,
                                                 "-o", "json")))]


@pytest.fixture
def acme(run):
    """acme: owner ana, bo support, vic viewer; 5 licences, no money."""
    for email in (ANA, BO, VIC):
        ok(run("user", "create", email, "-o", "json"))
    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", ANA,
           "--licenses", "5", "-o", "json"))
    ok(run("reseller", "member", "add", "acme", BO, "--role", "support", "-o", "json"))
    ok(run("reseller", "member", "add", "acme", VIC, "--role", "viewer", "-o", "json"))
    return run


# ---------------------------------------------------------------- license show / quote

def test_license_show(acme, store_url: str) -> None:
    shown = pool(acme, "acme")
    assert list(shown) == POOL_FIELDS
    assert shown == {"reseller": "acme", "license_count": 5, "license_used": 0,
                     "license_available": 5}
    assert take(store_url, "acme", 2) == 2
    assert pool(acme, "acme") == {"reseller": "acme", "license_count": 5, "license_used": 2,
                                  "license_available": 3}
    # members read it too
    for who in (ANA, BO, VIC):
        assert ok(acme("license", "show", "acme", "-o", "json", actor=who))[
            "license_used"] == 2
    reseller = ok(acme("reseller", "show", "acme", "-o", "json"))
    assert (reseller["license_count"], reseller["license_used"],
            reseller["license_available"]) == (5, 2, 3)


QUOTES = [
    # quantity, tier_min, unit, total, next_tier_min, next_tier_total
    (1, 1, 2500, 2500, None, None),
    (9, 1, 2500, 22500, 10, 20000),
    (10, 10, 2000, 20000, None, None),
    (49, 10, 2000, 98000, 50, 87500),
    (50, 50, 1750, 87500, None, None),
    (95, 50, 1750, 166250, 100, 150000),
    (100, 100, 1500, 150000, None, None),
    (1000, 100, 1500, 1500000, None, None),
]


def test_quote_uses_the_default_tiers(run) -> None:
    for quantity, tier_min, unit, total, next_min, next_total in QUOTES:
        quote = ok(run("license", "quote", str(quantity), "-o", "json"))
        assert set(quote) == QUOTE_FIELDS
        assert quote == {"quantity": quantity, "tier_min": tier_min, "unit_cents": unit,
                         "total_cents": total, "currency": "USD", "next_tier_min": next_min,
                         "next_tier_total_cents": next_total}, quantity
    fails(run("license", "quote", "0"), 5, "QUANTITY")
    assert run("license", "quote", "abc").exit_code == 2
    # a quote changes nothing
    assert actions(run, "license.") == []


def test_quote_follows_the_loaded_catalog(run, store_url: str) -> None:
    from resellctl.domain import catalog
    from resellctl.domain.context import Ctx
    from resellctl.store.engine import Store

    store = Store(store_url)
    try:
        catalog.load(Ctx(store, ADMIN), 'currency = "USD"\nlicense_tiers = [{min = 1, '
                     'unit_cents = 1000}, {min = 5, unit_cents = 800}]\n', "test")
    finally:
        store.dispose()
    assert ok(run("license", "quote", "4", "-o", "json")) == {
        "quantity": 4, "tier_min": 1, "unit_cents": 1000, "total_cents": 4000,
        "currency": "USD", "next_tier_min": 5, "next_tier_total_cents": 4000}
    assert ok(run("license", "quote", "7", "-o", "json"))["total_cents"] == 5600


def test_quote_needs_a_known_actor(run) -> None:
    fails(run("license", "quote", "3", actor="ghost@nowhere.example"), 6, "ghost")


# ---------------------------------------------------------------- grant / revoke

def test_grant_and_revoke(acme, store_url: str) -> None:
    granted = ok(acme("license", "grant", "acme", "10", "--reason", "launch bonus",
                      "-o", "json"))
    assert granted == {"reseller": "acme", "license_count": 15, "license_used": 0,
                       "license_available": 15}
    revoked = ok(acme("license", "revoke", "acme", "4", "--reason", "contract", "-o", "json"))
    assert revoked == {"reseller": "acme", "license_count": 11, "license_used": 0,
                       "license_available": 11}
    events = list(reversed(ok(acme("audit", "list", "--action", "license.", "-o", "json"))))
    assert [e["action"] for e in events] == ["license.grant", "license.revoke"]
    assert events[0]["changes"]["before"] == {"license_count": 5}
    assert events[0]["changes"]["after"] == {"license_count": 15}
    assert events[0]["changes"]["quantity"] == 10
    assert events[0]["changes"]["reason"] == "launch bonus"
    assert events[1]["changes"]["after"] == {"license_count": 11}
    assert events[0]["actor"] == ADMIN and events[0]["reseller"] == "acme"


def test_revoke_below_used_is_refused_and_changes_nothing(acme, store_url: str) -> None:
    take(store_url, "acme", 4)
    before = money_state(store_url)
    err = fails(acme("license", "revoke", "acme", "2"), 7, "cannot revoke 2", "1 free")
    assert "Hint: " in err
    fails(acme("license", "revoke", "acme", "6"), 7)
    assert money_state(store_url) == before
    assert ok(acme("license", "revoke", "acme", "1", "-o", "json")) == {
        "reseller": "acme", "license_count": 4, "license_used": 4, "license_available": 0}
    fails(acme("license", "revoke", "acme", "1"), 7)
    assert pool(acme, "acme")["license_count"] == 4


def test_grant_and_revoke_refuse_bad_quantities(acme, store_url: str) -> None:
    before = money_state(store_url)
    fails(acme("license", "grant", "acme", "0"), 5, "QUANTITY")
    fails(acme("license", "revoke", "acme", "0"), 5, "QUANTITY")
    fails(acme("license", "grant", "ghost", "1"), 3, "`ghost` not found")
    assert acme("license", "grant", "acme", "x").exit_code == 2
    assert money_state(store_url) == before


# ---------------------------------------------------------------- purchase

def test_purchase_pays_from_the_balance_at_the_tier_price(acme, store_url: str) -> None:
    ok(acme("reseller", "balance", "top-up", "acme", "500", "-o", "json"))
    bought = ok(acme("license", "purchase", "acme", "12", "-o", "json"))
    assert list(bought) == PURCHASE_FIELDS
    assert bought == {"reseller": "acme", "quantity": 12, "unit_cents": 2000,
                      "total_cents": 24000, "license_count": 17, "balance_cents": 26000}
    assert pool(acme, "acme")["license_count"] == 17
    assert balance(acme, "acme") == 26000
    [entry, top_up] = ok(acme("reseller", "balance", "history", "acme", "-o", "json"))
    assert entry["kind"] == "license_purchase" and top_up["kind"] == "top_up"
    assert (entry["amount_cents"], entry["balance_after_cents"]) == (-24000, 26000)
    assert sql(store_url, "SELECT quantity, unit_cents, total_cents, ledger_entry_id "
                          "FROM license_purchase") == [(12, 2000, 24000, entry["id"])]
    [event] = list(ok(acme("audit", "list", "--action", "license.purchase", "-o", "json")))
    assert event["changes"]["before"] == {"license_count": 5, "balance_cents": 50000}
    assert event["changes"]["after"] == {"license_count": 17, "balance_cents": 26000}
    assert event["changes"]["quantity"] == 12 and event["changes"]["total_cents"] == 24000


def test_purchase_of_the_whole_balance_leaves_zero(acme) -> None:
    ok(acme("reseller", "balance", "top-up", "acme", "75", "-o", "json"))
    bought = ok(acme("license", "purchase", "acme", "3", "-o", "json"))
    assert (bought["total_cents"], bought["balance_cents"]) == (7500, 0)


def test_purchase_without_enough_balance_changes_nothing(acme, store_url: str) -> None:
    ok(acme("reseller", "balance", "top-up", "acme", "124.99", "-o", "json"))
    before = money_state(store_url)
    err = fails(acme("license", "purchase", "acme", "5"), 7, "balance too low", "124.99")
    assert "Hint: " in err
    result = acme("license", "purchase", "acme", "5", "-o", "json")
    assert result.exit_code == 7 and result.stdout == ""
    assert json.loads(result.stderr)["error"]["exit_code"] == 7
    fails(acme("license", "purchase", "acme", "1000"), 7)
    assert money_state(store_url) == before
    assert pool(acme, "acme")["license_count"] == 5
    assert balance(acme, "acme") == 12499


def test_purchase_permissions(acme, run) -> None:
    ok(run("user", "create", ZED, "-o", "json"))
    ok(run("reseller", "create", "--slug", "beta", "--name", "Beta", "--owner", ZED,
           "-o", "json"))
    ok(run("reseller", "balance", "top-up", "acme", "100", "-o", "json"))
    ok(run("reseller", "balance", "top-up", "beta", "100", "-o", "json"))
    # a reseller admin buys for its own reseller
    assert ok(run("license", "purchase", "acme", "1", "-o", "json", actor=ANA))[
        "license_count"] == 6
    fails(run("license", "purchase", "acme", "1", actor=BO), 6, "admin")
    fails(run("license", "purchase", "acme", "1", actor=VIC), 6, "admin")
    fails(run("license", "purchase", "beta", "1", actor=ANA), 3, "`beta` not found")
    assert balance(run, "beta") == 10000
    assert balance(run, "acme") == 7500
    fails(run("license", "purchase", "acme", "0"), 5, "QUANTITY")


# ---------------------------------------------------------------- reconcile

def test_reconcile_clean_store(acme) -> None:
    assert ok(acme("license", "reconcile", "-o", "json")) == {
        "resellers": [], "orphans": [], "applied": False}
    assert actions(acme, "license.reconcile") == []


def test_reconcile_reports_and_repairs_drift(acme, run, store_url: str) -> None:
    ok(run("user", "create", ZED, "-o", "json"))
    ok(run("reseller", "create", "--slug", "beta", "--name", "Beta", "--owner", ZED,
           "--licenses", "5", "-o", "json"))
    # acme claims 3 used with no client; beta has 2 active clients it never counted
    sql(store_url, "UPDATE reseller SET license_used = 3 WHERE slug = 'acme'")
    add_clients(store_url, "beta", "active", "active", "deactivated")
    add_clients(store_url, "beta", "active", deleted=True)
    assert ok(run("reseller", "show", "beta", "-o", "json"))["client_count"] == 3

    found = run("license", "reconcile", "-o", "json")
    assert found.exit_code == 9
    report = found.json
    assert [(r["reseller"], r["stored_used"], r["actual_used"], r["drift"])
            for r in report["resellers"]] == [("acme", 3, 0, 3), ("beta", 0, 2, -2)]
    assert all(r["repaired"] is False for r in report["resellers"])
    assert report["orphans"] == []
    error = json.loads(found.stderr)["error"]
    assert error["exit_code"] == 9 and error["code"] == "drift_found"
    text = run("license", "reconcile")
    assert text.exit_code == 9
    assert "acme" in text.stdout and "beta" in text.stdout
    assert text.stderr.startswith("Error: ") and "--apply" in text.stderr
    # reporting changed nothing
    assert pool(run, "acme")["license_used"] == 3 and pool(run, "beta")["license_used"] == 0
    assert actions(run, "license.reconcile") == []

    # one reseller only
    only = run("license", "reconcile", "beta", "-o", "json")
    assert only.exit_code == 9
    assert [r["reseller"] for r in only.json["resellers"]] == ["beta"]

    repaired = ok(run("license", "reconcile", "--apply", "-o", "json"))
    assert [(r["reseller"], r["drift"], r["repaired"]) for r in repaired["resellers"]] == [
        ("acme", 3, True), ("beta", -2, True)]
    assert repaired["applied"] is True
    assert pool(run, "acme")["license_used"] == 0
    assert pool(run, "beta") == {"reseller": "beta", "license_count": 5, "license_used": 2,
                                 "license_available": 3}
    assert "license.reconcile" in actions(run, "license.reconcile")
    assert ok(run("license", "reconcile", "-o", "json")) == {
        "resellers": [], "orphans": [], "applied": False}
    again = run("license", "reconcile")
    assert again.exit_code == 0 and again.stderr == ""


def test_reconcile_cannot_repair_more_clients_than_licences(acme, store_url: str) -> None:
    add_clients(store_url, "acme", *["active"] * 7)
    result = acme("license", "reconcile", "--apply", "-o", "json")
    assert result.exit_code == 9
    [row] = result.json["resellers"]
    assert (row["stored_used"], row["actual_used"], row["repaired"]) == (0, 7, False)
    assert "grant" in row["note"]
    assert pool(acme, "acme")["license_used"] == 0
    ok(acme("license", "grant", "acme", "2", "-o", "json"))
    assert ok(acme("license", "reconcile", "--apply", "-o", "json"))["resellers"][0][
        "repaired"] is True
    assert pool(acme, "acme") == {"reseller": "acme", "license_count": 7, "license_used": 7,
                                  "license_available": 0}


def test_reconcile_reports_orphans_of_an_inactive_reseller(acme, store_url: str) -> None:
    add_clients(store_url, "acme", "active", "active", "deactivated")
    take(store_url, "acme", 2)  # the pool agrees: no drift
    uids = sorted(u for (u,) in sql(store_url, "SELECT uid FROM client WHERE status = 'active'"))
    assert ok(acme("license", "reconcile", "-o", "json"))["orphans"] == []
    ok(acme("reseller", "deactivate", "acme", "-o", "json"))
    found = acme("license", "reconcile", "-o", "json")
    assert found.exit_code == 9
    assert found.json["resellers"] == []
    assert [(o["client"], o["reseller"], o["reason"]) for o in found.json["orphans"]] == [
        (uid, "acme", "reseller inactive") for uid in uids]
    assert json.loads(found.stderr)["error"]["exit_code"] == 9
    # --apply repairs drift only; orphans stay orphans (they are reported, not moved)
    assert acme("license", "reconcile", "acme", "-o", "json").exit_code == 9
    ok(acme("reseller", "activate", "acme", "-o", "json"))
    assert ok(acme("license", "reconcile", "-o", "json")) == {
        "resellers": [], "orphans": [], "applied": False}


# ---------------------------------------------------------------- balance

def test_top_up_accepts_decimal_amounts(acme, store_url: str) -> None:
    first = ok(acme("reseller", "balance", "top-up", "acme", "100", "--reference", "INV-1",
                    "-o", "json"))
    assert first["reseller"] == "acme" and first["balance_cents"] == 10000
    assert first["currency"] == "USD"
    assert list(first["entry"]) == ENTRY_FIELDS
    assert (first["entry"]["kind"], first["entry"]["amount_cents"],
            first["entry"]["balance_after_cents"], first["entry"]["reference"],
            first["entry"]["actor"]) == ("top_up", 10000, 10000, "INV-1", ADMIN)
    assert ok(acme("reseller", "balance", "top-up", "acme", "99.95", "-o", "json"))[
        "balance_cents"] == 19995
    assert ok(acme("reseller", "balance", "top-up", "acme", "0.01", "-o", "json"))[
        "balance_cents"] == 19996
    assert ok(acme("reseller", "balance", "top-up", "acme", "0.5", "-o", "json"))[
        "balance_cents"] == 20046
    assert ok(acme("reseller", "balance", "show", "acme", "-o", "json")) == {
        "reseller": "acme", "balance_cents": 20046, "currency": "USD"}
    assert ok(acme("reseller", "show", "acme", "-o", "json"))["balance_cents"] == 20046
    history = ok(acme("reseller", "balance", "history", "acme", "-o", "json"))
    assert [(h["kind"], h["amount_cents"], h["balance_after_cents"]) for h in history] == [
        ("top_up", 50, 20046), ("top_up", 1, 19996), ("top_up", 9995, 19995),
        ("top_up", 10000, 10000)]
    assert all(list(h) == ENTRY_FIELDS for h in history)
    events = list(reversed(ok(acme("audit", "list", "--action", "balance.", "-o", "json"))))
    assert [e["action"] for e in events] == ["balance.top_up"] * 4
    assert events[0]["changes"]["amount_cents"] == 10000
    assert events[0]["changes"]["reference"] == "INV-1"
    assert events[1]["changes"]["before"] == {"balance_cents": 10000}
    assert events[1]["changes"]["after"] == {"balance_cents": 19995}


BAD_TOP_UPS = ["1e3", "-5", "0", "0.00", "12.345", "abc", "", " ", "1,000", "NaN",
               "Infinity", "5$", "--5", "1 000", "-0.01", "+-1", "١٢"]
BAD_ADJUSTMENTS = ["1e3", "0", "-0", "0.00", "12.345", "-12.345", "abc", "", "NaN", "--5"]


def test_invalid_top_up_amounts_write_nothing(acme, store_url: str) -> None:
    ok(acme("reseller", "balance", "top-up", "acme", "10", "-o", "json"))
    before = money_state(store_url)
    for amount in BAD_TOP_UPS:
        fails(acme("reseller", "balance", "top-up", "acme", amount), 5, "AMOUNT")
        fails(acme("reseller", "balance", "top-up", "acme", amount, "--idempotency-key",
                   f"k-{amount}"), 5, "AMOUNT")
    assert money_state(store_url) == before
    assert balance(acme, "acme") == 1000


def test_invalid_adjustments_write_nothing(acme, store_url: str) -> None:
    ok(acme("reseller", "balance", "top-up", "acme", "10", "-o", "json"))
    before = money_state(store_url)
    for amount in BAD_ADJUSTMENTS:
        fails(acme("reseller", "balance", "adjust", "acme", amount, "--reason", "fix"), 5,
              "AMOUNT")
    # --reason is required (usage error), and must not be blank
    missing = acme("reseller", "balance", "adjust", "acme", "5")
    assert missing.exit_code == 2 and missing.stdout == ""
    assert "--reason" in missing.stderr
    fails(acme("reseller", "balance", "adjust", "acme", "5", "--reason", "   "), 5, "reason")
    assert money_state(store_url) == before


def test_adjust_is_signed_and_never_goes_below_zero(acme, store_url: str) -> None:
    ok(acme("reseller", "balance", "top-up", "acme", "20", "-o", "json"))
    down = ok(acme("reseller", "balance", "adjust", "acme", "-12.50", "--reason",
                   "refund of duplicate fee", "-o", "json"))
    assert down["balance_cents"] == 750
    assert (down["entry"]["kind"], down["entry"]["amount_cents"],
            down["entry"]["reference"]) == ("adjustment", -1250, "refund of duplicate fee")
    up = ok(acme("reseller", "balance", "adjust", "acme", "2.50", "--reason", "goodwill",
                 "-o", "json"))
    assert up["balance_cents"] == 1000
    before = money_state(store_url)
    err = fails(acme("reseller", "balance", "adjust", "acme", "-10.01", "--reason", "too much"),
                7, "balance too low")
    assert "Hint: " in err
    assert money_state(store_url) == before
    assert ok(acme("reseller", "balance", "adjust", "acme", "-10", "--reason", "to zero",
                   "-o", "json"))["balance_cents"] == 0
    fails(acme("reseller", "balance", "adjust", "acme", "-0.01", "--reason", "below"), 7)
    assert balance(acme, "acme") == 0
    events = list(reversed(ok(acme("audit", "list", "--action", "balance.adjust",
                                   "-o", "json"))))
    assert [e["changes"]["amount_cents"] for e in events] == [-1250, 250, -1000]
    assert events[0]["changes"]["reference"] == "refund of duplicate fee"


def test_balance_history_filters(acme) -> None:
    past = {"RESELLCTL_NOW": "2026-01-10T12:00:00Z"}
    later = {"RESELLCTL_NOW": "2026-02-10T12:00:00Z"}
    ok(acme("reseller", "balance", "top-up", "acme", "1", "-o", "json", env=past))
    ok(acme("reseller", "balance", "top-up", "acme", "2", "-o", "json", env=later))
    ok(acme("reseller", "balance", "top-up", "acme", "3", "-o", "json", env=later))
    history = ok(acme("reseller", "balance", "history", "acme", "-o", "json"))
    assert [h["amount_cents"] for h in history] == [300, 200, 100]
    assert history[2]["created_at"] == "2026-01-10T12:00:00Z"
    limited = ok(acme("reseller", "balance", "history", "acme", "--limit", "2", "-o", "json"))
    assert [h["amount_cents"] for h in limited] == [300, 200]
    since = ok(acme("reseller", "balance", "history", "acme", "--since", "2026-02-01",
                    "-o", "json"))
    assert [h["amount_cents"] for h in since] == [300, 200]
    assert ok(acme("reseller", "balance", "history", "acme", "--since", "2026-03-01",
                   "-o", "json")) == []
    fails(acme("reseller", "balance", "history", "acme", "--since", "yesterday"), 5, "since")
    # members read their reseller's ledger
    assert len(ok(acme("reseller", "balance", "history", "acme", "-o", "json", actor=VIC))) == 3
    csv_out = acme("reseller", "balance", "history", "acme", "-o", "csv")
    assert csv_out.exit_code == 0
    assert csv_out.stdout.splitlines()[0] == (
        "id,created_at,kind,amount_cents,balance_after_cents,reference,subscription_id,actor")
    # csv keeps every key of the json (CLI.md), in its own column order
    as_json = ok(acme("reseller", "balance", "history", "acme", "-o", "json"))
    assert set(csv_out.stdout.splitlines()[0].split(",")) == set(as_json[0])


# ---------------------------------------------------------------- idempotency

def test_same_key_same_top_up_moves_money_once(acme, store_url: str) -> None:
    args = ("reseller", "balance", "top-up", "acme", "250", "--reference", "INV-9",
            "--idempotency-key", "INV-9", "-o", "json")
    first = ok(acme(*args))
    second = ok(acme(*args))
    assert first["replayed"] is False and second["replayed"] is True
    assert {**second, "replayed": False} == first
    assert balance(acme, "acme") == 25000
    assert sql(store_url, "SELECT COUNT(*) FROM ledger_entry") == [(1,)]
    assert actions(acme, "balance.") == ["balance.top_up"]
    # the same key with another amount, reference, reseller or command is refused
    before = money_state(store_url)
    err = fails(acme("reseller", "balance", "top-up", "acme", "251", "--reference", "INV-9",
                     "--idempotency-key", "INV-9"), 4, "INV-9", "different request")
    assert "Hint: " in err
    fails(acme("reseller", "balance", "top-up", "acme", "250", "--idempotency-key", "INV-9"), 4)
    fails(acme("reseller", "balance", "adjust", "acme", "250", "--reason", "INV-9",
               "--idempotency-key", "INV-9"), 4)
    fails(acme("license", "purchase", "acme", "1", "--idempotency-key", "INV-9"), 4)
    assert money_state(store_url) == before


def test_same_key_same_purchase_buys_once(acme, store_url: str) -> None:
    ok(acme("reseller", "balance", "top-up", "acme", "100", "-o", "json"))
    args = ("license", "purchase", "acme", "2", "--idempotency-key", "po-118", "-o", "json")
    first = ok(acme(*args))
    again = ok(acme(*args, actor=ANA))
    assert first["replayed"] is False and again["replayed"] is True
    assert {k: first[k] for k in PURCHASE_FIELDS} == {k: again[k] for k in PURCHASE_FIELDS} == {
        "reseller": "acme", "quantity": 2, "unit_cents": 2500, "total_cents": 5000,
        "license_count": 7, "balance_cents": 5000}
    assert pool(acme, "acme")["license_count"] == 7
    assert balance(acme, "acme") == 5000
    assert sql(store_url, "SELECT COUNT(*) FROM license_purchase") == [(1,)]
    before = money_state(store_url)
    fails(acme("license", "purchase", "acme", "3", "--idempotency-key", "po-118"), 4,
          "po-118")
    assert money_state(store_url) == before


def test_a_failed_request_does_not_consume_its_key(acme, store_url: str) -> None:
    fails(acme("license", "purchase", "acme", "4", "--idempotency-key", "po-7"), 7)
    fails(acme("reseller", "balance", "adjust", "acme", "-1", "--reason", "x",
               "--idempotency-key", "adj-1"), 7)
    assert sql(store_url, "SELECT COUNT(*) FROM idempotency_key") == [(0,)]
    ok(acme("reseller", "balance", "top-up", "acme", "100", "-o", "json"))
    bought = ok(acme("license", "purchase", "acme", "4", "--idempotency-key", "po-7",
                     "-o", "json"))
    assert bought["replayed"] is False and bought["balance_cents"] == 0
    assert bought["license_count"] == 9
    # the key now belongs to the successful purchase
    assert ok(acme("license", "purchase", "acme", "4", "--idempotency-key", "po-7",
                   "-o", "json"))["replayed"] is True
    assert pool(acme, "acme")["license_count"] == 9
    assert balance(acme, "acme") == 0


def test_a_refused_request_does_not_consume_its_key(acme, store_url: str) -> None:
    fails(acme("license", "purchase", "acme", "1", "--idempotency-key", "k1", actor=VIC), 6)
    fails(acme("reseller", "balance", "top-up", "acme", "5", "--idempotency-key", "k1",
               actor=ANA), 6)
    assert sql(store_url, "SELECT COUNT(*) FROM idempotency_key") == [(0,)]
    assert ok(acme("reseller", "balance", "top-up", "acme", "5", "--idempotency-key", "k1",
                   "-o", "json"))["replayed"] is False


def test_blank_or_long_keys_are_invalid(acme, store_url: str) -> None:
    fails(acme("reseller", "balance", "top-up", "acme", "5", "--idempotency-key", " "), 5,
          "idempotency-key")
    fails(acme("reseller", "balance", "top-up", "acme", "5", "--idempotency-key", "k" * 201),
          5, "idempotency-key")
    assert sql(store_url, "SELECT COUNT(*) FROM ledger_entry") == [(0,)]


# ---------------------------------------------------------------- the store's own guards

def test_the_ledger_is_append_only(acme, store_url: str) -> None:
    from sqlalchemy.exc import DBAPIError

    ok(acme("reseller", "balance", "top-up", "acme", "10", "-o", "json"))
    rows = sql(store_url, "SELECT id, amount_cents FROM ledger_entry")
    for statement in ("UPDATE ledger_entry SET amount_cents = 999999",
                      "UPDATE ledger_entry SET reference = 'edited'",
                      "DELETE FROM ledger_entry",
                      "UPDATE audit_event SET actor_email = 'x@y.example'",
                      "DELETE FROM audit_event"):
        with pytest.raises(DBAPIError, match="append-only"):
            sql(store_url, statement)
    assert sql(store_url, "SELECT id, amount_cents FROM ledger_entry") == rows
    assert actions(acme, "balance.") == ["balance.top_up"]


def test_the_store_refuses_a_negative_balance_or_an_oversold_pool(acme, store_url: str) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        sql(store_url, "UPDATE reseller SET balance_cents = -1 WHERE slug = 'acme'")
    with pytest.raises(IntegrityError):
        sql(store_url, "UPDATE reseller SET license_used = license_count + 1 "
                       "WHERE slug = 'acme'")
    assert pool(acme, "acme")["license_used"] == 0


def test_take_refuses_an_empty_pool_and_an_inactive_reseller(acme, store_url: str) -> None:
    from resellctl.domain.errors import Conflict, Insufficient

    assert take(store_url, "acme", 5) == 5
    with pytest.raises(Insufficient, match="0 free licences, 1 needed"):
        take(store_url, "acme", 1)
    assert pool(acme, "acme")["license_used"] == 5
    ok(acme("license", "grant", "acme", "1", "-o", "json"))
    ok(acme("reseller", "deactivate", "acme", "-o", "json"))
    with pytest.raises(Conflict, match="inactive"):
        take(store_url, "acme", 1)
    assert pool(acme, "acme")["license_used"] == 5
