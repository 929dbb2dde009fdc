"""Real processes racing for the same licence pool, balance and idempotency key.

The workers are separate interpreters (`python -c WORKER`), started once for this
module (imports cost ~0.5 s of CPU each) and reused. For each race every worker
opens its own Store and connection for the test's store, says `ready`, and waits for
`go` on stdin; the parent sends `go` to all of them at once, so their write
transactions really collide. Runs on SQLite and PostgreSQL (`store_url` is
parametrised).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ADMIN = "admin@vendor.example"
OWNER = "owner@race.example"
TIMEOUT = 180
WORKERS = 24
ROOT = Path(__file__).resolve().parents[1]

# Runs in each worker process: only what the jobs need, no pytest.
WORKER = r"""
import json, sys, traceback
from sqlalchemy import text
from resellctl.cli.errors import exit_code
from resellctl.domain import licenses, resellers
from resellctl.domain.context import Ctx
from resellctl.domain.errors import ResellError
from resellctl.store.engine import Store


def take(store, ctx, reseller_id):
    with store.write() as conn:
        return licenses.take(conn, reseller_id, 1)


JOBS = {
    "take": take,
    "purchase": lambda store, ctx, slug, n: licenses.purchase(ctx, slug, n),
    "top_up": lambda store, ctx, slug, cents, key: resellers.top_up(
        ctx, slug, cents, reference=key, idempotency_key=key),
}
print("started", flush=True)
while True:
    request = sys.stdin.readline()
    if not request:
        break
    url, job, args = json.loads(request)
    store = Store(url, check_schema=False)  # the parent checked it
    try:
        with store.read() as conn:  # connected before the race starts
            conn.execute(text("SELECT 1"))
        print("ready", flush=True)
        sys.stdin.readline()  # go
        try:
            outcome = ["ok", JOBS[job](store, Ctx(store, "admin@vendor.example"), *args)]
        except ResellError as exc:
            outcome = [exit_code(exc), exc.code]
    except Exception:
        outcome = ["crash", traceback.format_exc()]
    finally:
        store.dispose()
    print(json.dumps(outcome), flush=True)
"""


@pytest.fixture(scope="module")
def workers() -> Iterator[list[subprocess.Popen]]:
    procs = [subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(WORKERS)]
    try:
        for proc in procs:
            assert proc.stdout.readline() == "started\n", "a worker failed to start"
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


@pytest.fixture
def race(workers: list[subprocess.Popen]):
    def run(url: str, job: str, args_per_worker: list[tuple]) -> list[list]:
        """Give each worker a job, wait until all are connected, then release them at once.
        Returns each one's ["ok", result] or [exit code, error code]."""
        chosen = workers[:len(args_per_worker)]
        for proc, args in zip(chosen, args_per_worker, strict=True):
            proc.stdin.write(json.dumps([url, job, list(args)]) + "\n")
            proc.stdin.flush()
        for proc in chosen:
            line = proc.stdout.readline()
            assert line == "ready\n", line
        for proc in chosen:  # the starting gun: microseconds apart
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outcomes = [json.loads(proc.stdout.readline()) for proc in chosen]
        crashes = [o[1] for o in outcomes if o[0] == "crash"]
        assert crashes == [], crashes[0]
        return outcomes

    return run


def store(url: str):
    from resellctl.store.engine import Store

    return Store(url)


def ctx(url: str):
    from resellctl.domain.context import Ctx

    return Ctx(store(url), ADMIN)


def make_reseller(url: str, slug: str, licenses: int = 0) -> int:
    from sqlalchemy import select

    from resellctl.domain import resellers, users
    from resellctl.domain.access import RESELLER

    context = ctx(url)
    try:
        if users_missing(context):
            users.create_user(context, OWNER)
        resellers.create(context, slug, slug.title(), OWNER, licenses=licenses)
        with context.store.read() as conn:
            return conn.execute(select(RESELLER.c.id).where(RESELLER.c.slug == slug)).scalar_one()
    finally:
        context.store.dispose()


def users_missing(context) -> bool:
    from sqlalchemy import select

    from resellctl.domain.access import USER

    with context.store.read() as conn:
        return conn.execute(select(USER.c.id).where(USER.c.email == OWNER)).first() is None


def row(url: str, slug: str) -> dict:
    """The reseller's pool and balance, and its ledger's sum and size."""
    from sqlalchemy import func, select

    from resellctl.domain.access import RESELLER
    from resellctl.domain.ledger import LEDGER

    s = store(url)
    try:
        with s.read() as conn:
            r = conn.execute(select(RESELLER).where(RESELLER.c.slug == slug)).one()
            total, entries = conn.execute(
                select(func.coalesce(func.sum(LEDGER.c.amount_cents), 0), func.count())
                .where(LEDGER.c.reseller_id == r.id)).one()
            return {"license_count": r.license_count, "license_used": r.license_used,
                    "balance_cents": r.balance_cents, "ledger_sum": total, "entries": entries}
    finally:
        s.dispose()


def audit_changes(url: str, action: str) -> list[dict]:
    from resellctl.domain import audit

    context = ctx(url)
    try:
        return [e["changes"] for e in audit.list_events(context, action=action, limit=1000)]
    finally:
        context.store.dispose()


# ---------------------------------------------------------------- the races

def test_24_processes_take_from_a_pool_of_10(store_url: str, race) -> None:
    reseller_id = make_reseller(store_url, "race", licenses=10)
    outcomes = race(store_url, "take", [(reseller_id,)] * 24)
    assert Counter(kind for kind, _ in outcomes) == {"ok": 10, 7: 14}
    assert {code for kind, code in outcomes if kind == 7} == {"no_free_license"}
    # each success saw a distinct count: the takes were serialised, none was lost
    assert sorted(used for kind, used in outcomes if kind == "ok") == list(range(1, 11))
    after = row(store_url, "race")
    assert (after["license_count"], after["license_used"]) == (10, 10)


def test_12_concurrent_purchases_against_a_balance_for_5(store_url: str, race) -> None:
    from resellctl.domain import resellers

    make_reseller(store_url, "buyer", licenses=3)
    context = ctx(store_url)
    resellers.top_up(context, "buyer", 5 * 5000 + 4999)  # 5 purchases of 2 x $25.00, not 6
    context.store.dispose()
    outcomes = race(store_url, "purchase", [("buyer", 2)] * 12)
    assert Counter(kind for kind, _ in outcomes) == {"ok": 5, 7: 7}
    assert {code for kind, code in outcomes if kind == 7} == {"insufficient_balance"}
    done = [result for kind, result in outcomes if kind == "ok"]
    assert sorted(r["balance_cents"] for r in done) == [4999, 9999, 14999, 19999, 24999]
    assert sorted(r["license_count"] for r in done) == [5, 7, 9, 11, 13]
    after = row(store_url, "buyer")
    assert after["license_count"] == 3 + 5 * 2
    assert after["balance_cents"] == 4999 == after["ledger_sum"]
    assert after["entries"] == 1 + 5
    # every purchase's audit event tells the truth about the balance it found
    purchases = audit_changes(store_url, "license.purchase")
    assert len(purchases) == 5
    for changes in purchases:
        assert changes["before"]["balance_cents"] - 5000 == changes["after"]["balance_cents"]
        assert changes["before"]["license_count"] + 2 == changes["after"]["license_count"]


def test_8_processes_send_the_same_idempotency_key(store_url: str, race) -> None:
    make_reseller(store_url, "payee")
    outcomes = race(store_url, "top_up", [("payee", 12345, "INV-2026-001")] * 8)
    assert [kind for kind, _ in outcomes] == ["ok"] * 8
    results = [result for _, result in outcomes]
    assert Counter(r["replayed"] for r in results) == {False: 1, True: 7}
    assert {r["entry"]["id"] for r in results} == {results[0]["entry"]["id"]}
    assert {r["balance_cents"] for r in results} == {12345}
    after = row(store_url, "payee")
    assert (after["balance_cents"], after["ledger_sum"], after["entries"]) == (12345, 12345, 1)
    assert len(audit_changes(store_url, "balance.top_up")) == 1


# ---------------------------------------------------------------- reads under the lock
#
# A change that reads the reseller before taking the lock records a stale "before" in the
# audit trail (and may act on stale state) when another transaction commits in between.
# On SQLite BEGIN IMMEDIATE makes that impossible; on PostgreSQL the service must lock
# the row when it reads it. Each test changes the row in one open transaction, starts
# the service in a thread (it reads, then queues behind the lock), and then commits.

HOLDER_CHANGES = {
    "balance": "UPDATE reseller SET balance_cents = balance_cents + 500 WHERE slug = 'held'",
    "count": "UPDATE reseller SET license_count = license_count + 5 WHERE slug = 'held'",
    "active": "UPDATE reseller SET is_active = false WHERE slug = 'held'",
    "branding": """UPDATE reseller SET branding = '{"logo_url": "https://a.example/l.png"}'
                   WHERE slug = 'held'""",
    "name": "UPDATE reseller SET name = 'Renamed' WHERE slug = 'held'",
}


def _while_locked(url: str, holder_change: str, service) -> dict:
    """Run `service()` in a thread while another transaction changes the row and commits."""
    from sqlalchemy import text

    from resellctl.domain import clock

    outcome: dict = {}
    context = ctx(url)
    with context.store.read() as conn:  # connected and schema checked: the thread is quick
        conn.execute(text("SELECT 1"))

    def call() -> None:
        try:
            outcome["result"] = service(context)
        except Exception as exc:  # noqa: BLE001 - re-raised in the test thread
            outcome["error"] = exc

    holder = store(url)
    thread = threading.Thread(target=call)
    try:
        with holder.write() as conn:
            conn.execute(text(holder_change))
            if "balance_cents" in holder_change:  # keep the ledger equal to the balance
                conn.execute(text("INSERT INTO ledger_entry (reseller_id, kind, amount_cents, "
                                  "balance_after_cents, actor_email, created_at) "
                                  "SELECT id, 'top_up', 500, balance_cents, :who, :at "
                                  "FROM reseller WHERE slug = 'held'"),
                             {"who": ADMIN, "at": clock.now()})
            thread.start()
            time.sleep(0.4)  # the service reads the reseller and queues behind the lock
        thread.join(timeout=TIMEOUT)
    finally:
        holder.dispose()
        context.store.dispose()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


@pytest.fixture
def held(store_url: str) -> str:
    from resellctl.domain import resellers

    make_reseller(store_url, "held", licenses=10)
    context = ctx(store_url)
    resellers.top_up(context, "held", 10000)
    context.store.dispose()
    return store_url


def _last_change(url: str, action: str) -> dict:
    return audit_changes(url, action)[0]


def test_top_up_audits_the_balance_it_really_found(held: str) -> None:
    from resellctl.domain import resellers

    result = _while_locked(held, HOLDER_CHANGES["balance"],
                           lambda c: resellers.top_up(c, "held", 1000))
    assert result["balance_cents"] == 11500
    changes = _last_change(held, "balance.top_up")
    assert changes["before"] == {"balance_cents": 10500}
    assert changes["after"] == {"balance_cents": 11500}


def test_adjust_audits_the_balance_it_really_found(held: str) -> None:
    from resellctl.domain import resellers

    # (a debit only counts money committed before it starts: it must fit in the 10000)
    result = _while_locked(held, HOLDER_CHANGES["balance"],
                           lambda c: resellers.adjust(c, "held", -9000, "write-off"))
    assert result["balance_cents"] == 1500
    changes = _last_change(held, "balance.adjust")
    assert changes["before"] == {"balance_cents": 10500}
    assert changes["after"] == {"balance_cents": 1500}


def test_purchase_audits_the_pool_and_balance_it_really_found(held: str) -> None:
    from resellctl.domain import licenses

    result = _while_locked(held, HOLDER_CHANGES["count"],
                           lambda c: licenses.purchase(c, "held", 2))
    assert (result["license_count"], result["balance_cents"]) == (17, 5000)
    changes = _last_change(held, "license.purchase")
    assert changes["before"] == {"license_count": 15, "balance_cents": 10000}
    assert changes["after"] == {"license_count": 17, "balance_cents": 5000}


@pytest.mark.parametrize(("verb", "quantity", "before", "after"),
                         [("grant", 3, 15, 18), ("revoke", 3, 15, 12)])
def test_grant_and_revoke_audit_the_count_they_really_found(held: str, verb: str,
                                                            quantity: int, before: int,
                                                            after: int) -> None:
    from resellctl.domain import licenses

    service = getattr(licenses, verb)
    result = _while_locked(held, HOLDER_CHANGES["count"],
                           lambda c: service(c, "held", quantity, None))
    assert result["license_count"] == after
    changes = _last_change(held, f"license.{verb}")
    assert changes["before"] == {"license_count": before}
    assert changes["after"] == {"license_count": after}


def test_deactivating_twice_at_once_is_audited_once(held: str) -> None:
    from resellctl.domain import resellers

    result = _while_locked(held, HOLDER_CHANGES["active"],
                           lambda c: resellers.set_active(c, "held", False))
    assert result["is_active"] is False
    assert audit_changes(held, "reseller.deactivate") == []


def test_concurrent_branding_changes_are_not_lost(held: str) -> None:
    from resellctl.domain import resellers

    result = _while_locked(held, HOLDER_CHANGES["branding"],
                           lambda c: resellers.branding_set(c, "held",
                                                            {"primary_color": "#102030"}))
    assert (result["logo_url"], result["primary_color"]) == ("https://a.example/l.png",
                                                             "#102030")
    changes = _last_change(held, "reseller.branding_set")
    assert changes == {"before": {"primary_color": None},
                       "after": {"primary_color": "#102030"}}


def test_edit_audits_the_values_it_really_found(held: str) -> None:
    from resellctl.domain import resellers

    result = _while_locked(held, HOLDER_CHANGES["name"],
                           lambda c: resellers.edit(c, "held", partner_supported=True))
    assert (result["name"], result["partner_supported"]) == ("Renamed", True)
    changes = _last_change(held, "reseller.edit")
    assert changes == {"before": {"partner_supported": False},
                       "after": {"partner_supported": True}}
