"""A model-based state machine over a reseller's licence pool and balance.

Hypothesis drives random sequences of grant, revoke, purchase (with and without an
idempotency key, and replays), top-up, adjust, take, give back and (de)activation
through the domain services on a real store, against a plain Python model. After
every step the store must equal the model, and always: 0 <= used <= count,
balance >= 0, balance == sum(ledger).

It runs on SQLite and PostgreSQL (each step is a few milliseconds on both); each
Hypothesis example gets a fresh reseller in the test's store.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

ADMIN = "admin@vendor.example"
OWNER = "owner@props.example"
TIERS = [(100, 1500), (50, 1750), (10, 2000), (1, 2500)]  # the default catalog, largest first
SETTINGS = settings(max_examples=30, stateful_step_count=30, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


# Quantities around every tier boundary, and money enough to reach them.
QUANTITIES = st.one_of(st.integers(1, 120), st.sampled_from([9, 10, 11, 49, 50, 51, 99, 100]))
AMOUNTS = st.one_of(st.integers(1, 5_000), st.integers(100_000, 2_000_000))


def price(quantity: int) -> int:
    """The model's own tier price: the whole purchase at the tier its quantity reaches."""
    return quantity * next(unit for low, unit in TIERS if quantity >= low)


class LicencePoolMachine(RuleBasedStateMachine):
    url: str = ""
    slugs = itertools.count()

    def __init__(self) -> None:
        super().__init__()
        from resellctl.domain.context import Ctx
        from resellctl.store.engine import Store

        self.store = Store(self.url)
        self.ctx = Ctx(self.store, ADMIN)
        self.slug = f"prop-{next(self.slugs)}"
        self.reseller_id = 0
        self.count = self.used = self.balance = 0
        self.active = True
        self.keys: dict[str, tuple[int, dict]] = {}  # idempotency key -> (quantity, result)

    def teardown(self) -> None:
        self.store.dispose()

    # ------------------------------------------------------------ helpers

    def expect_refusal(self, kind: type, call, code: str) -> None:
        with pytest.raises(kind) as caught:
            call()
        assert caught.value.code == code

    def in_transaction(self, service, count: int) -> int:
        with self.store.write() as conn:
            return service(conn, self.reseller_id, count)

    # ------------------------------------------------------------ rules

    @initialize(licences=st.integers(0, 20), funds=st.integers(0, 1_000_000))
    def create(self, licences: int, funds: int) -> None:
        from sqlalchemy import select

        from resellctl.domain import resellers
        from resellctl.domain.access import RESELLER

        resellers.create(self.ctx, self.slug, "Props", OWNER, licenses=licences)
        with self.store.read() as conn:
            self.reseller_id = conn.execute(select(RESELLER.c.id)
                                            .where(RESELLER.c.slug == self.slug)).scalar_one()
        self.count = licences
        if funds:
            resellers.top_up(self.ctx, self.slug, funds)
            self.balance = funds

    @rule(quantity=st.integers(1, 30))
    def grant(self, quantity: int) -> None:
        from resellctl.domain import licenses

        assert licenses.grant(self.ctx, self.slug, quantity, "prop")["license_count"] == (
            self.count + quantity)
        self.count += quantity

    @rule(quantity=st.integers(1, 30))
    def revoke(self, quantity: int) -> None:
        from resellctl.domain import licenses
        from resellctl.domain.errors import Insufficient

        if self.count - quantity < self.used:
            self.expect_refusal(Insufficient,
                                lambda: licenses.revoke(self.ctx, self.slug, quantity, None),
                                "licenses_in_use")
            return
        assert licenses.revoke(self.ctx, self.slug, quantity, None)["license_count"] == (
            self.count - quantity)
        self.count -= quantity

    @rule(quantity=QUANTITIES, keyed=st.booleans())
    def purchase(self, quantity: int, keyed: bool) -> None:
        from resellctl.domain import licenses
        from resellctl.domain.errors import Insufficient

        key = f"{self.slug}-{len(self.keys)}" if keyed else None
        cost = price(quantity)
        if cost > self.balance:
            self.expect_refusal(Insufficient,
                                lambda: licenses.purchase(self.ctx, self.slug, quantity, key),
                                "insufficient_balance")
            return  # the key was not consumed: it is never recorded
        result = licenses.purchase(self.ctx, self.slug, quantity, key)
        self.count += quantity
        self.balance -= cost
        assert (result["quantity"], result["total_cents"], result["license_count"],
                result["balance_cents"]) == (quantity, cost, self.count, self.balance)
        if key:
            self.keys[key] = (quantity, result)

    @precondition(lambda self: self.keys)
    @rule(data=st.data())
    def replay_purchase(self, data: st.DataObject) -> None:
        from resellctl.domain import licenses
        from resellctl.domain.errors import Conflict

        key = data.draw(st.sampled_from(sorted(self.keys)))
        quantity, first = self.keys[key]
        again = licenses.purchase(self.ctx, self.slug, quantity, key)
        assert again == {**first, "replayed": True}
        self.expect_refusal(Conflict,
                            lambda: licenses.purchase(self.ctx, self.slug, quantity + 1, key),
                            "idempotency_key_reused")

    @rule(cents=AMOUNTS)
    def top_up(self, cents: int) -> None:
        from resellctl.domain import resellers

        self.balance += cents
        assert resellers.top_up(self.ctx, self.slug, cents)["balance_cents"] == self.balance

    @rule(cents=st.integers(-100_000, 100_000).filter(bool))
    def adjust(self, cents: int) -> None:
        from resellctl.domain import resellers
        from resellctl.domain.errors import Insufficient

        if self.balance + cents < 0:
            self.expect_refusal(Insufficient,
                                lambda: resellers.adjust(self.ctx, self.slug, cents, "prop"),
                                "insufficient_balance")
            return
        self.balance += cents
        assert resellers.adjust(self.ctx, self.slug, cents, "prop")["balance_cents"] == (
            self.balance)

    @rule(count=st.integers(1, 5))
    def take(self, count: int) -> None:
        from resellctl.domain import licenses
        from resellctl.domain.errors import Conflict, Insufficient

        if not self.active:
            self.expect_refusal(Conflict, lambda: self.in_transaction(licenses.take, count),
                                "reseller_inactive")
        elif self.used + count > self.count:
            self.expect_refusal(Insufficient, lambda: self.in_transaction(licenses.take, count),
                                "no_free_license")
        else:
            self.used += count
            assert self.in_transaction(licenses.take, count) == self.used

    @rule(count=st.integers(1, 5))
    def give_back(self, count: int) -> None:
        from resellctl.domain import licenses

        self.used = max(0, self.used - count)
        assert self.in_transaction(licenses.give_back, count) == self.used

    @rule(active=st.booleans())
    def set_active(self, active: bool) -> None:
        from resellctl.domain import resellers

        assert resellers.set_active(self.ctx, self.slug, active)["is_active"] is active
        self.active = active

    # ------------------------------------------------------------ invariants

    @invariant()
    def store_matches_model(self) -> None:
        from sqlalchemy import func, select

        from resellctl.domain.access import RESELLER
        from resellctl.domain.ledger import LEDGER

        if not self.reseller_id:
            return
        with self.store.read() as conn:
            row = conn.execute(select(RESELLER).where(RESELLER.c.id == self.reseller_id)).one()
            ledger_sum = conn.execute(
                select(func.coalesce(func.sum(LEDGER.c.amount_cents), 0))
                .where(LEDGER.c.reseller_id == self.reseller_id)).scalar_one()
        assert 0 <= row.license_used <= row.license_count
        assert row.balance_cents >= 0
        assert row.balance_cents == ledger_sum
        assert (row.license_count, row.license_used, row.balance_cents, row.is_active) == (
            self.count, self.used, self.balance, self.active)


def test_pool_and_balance_follow_the_model(store_url: str) -> None:
    from resellctl.domain import users
    from resellctl.domain.context import Ctx
    from resellctl.store.engine import Store

    store = Store(store_url)
    users.create_user(Ctx(store, ADMIN), OWNER)
    store.dispose()
    machine = type("Machine", (LicencePoolMachine,), {"url": store_url})
    run_state_machine_as_test(machine, settings=SETTINGS)
