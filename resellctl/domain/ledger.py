"""The append-only ledger behind every reseller balance.

The cached `reseller.balance_cents` moves in the same statement that checks it
(a conditional UPDATE), and the entry records the balance after it, so the
cache always equals the ledger sum and can never go negative.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import BigInteger, cast, func, insert, select, update
from sqlalchemy.engine import Connection

from resellctl.domain import clock, money, settings, validate
from resellctl.domain.errors import Insufficient, Invalid
from resellctl.store import tables

LEDGER = tables.ledger_entry
RESELLER = tables.reseller
MAX_BALANCE = validate.MAX_CENTS  # the balance column's range on every store
KINDS = ("top_up", "adjustment", "license_purchase", "activation", "renewal", "refund")


def store_currency(conn: Connection) -> str:
    return settings.get(conn, "currency")


def post(conn: Connection, reseller_id: int, kind: str, amount_cents: int, actor_email: str,
         *, reference: str | None = None, subscription_id: str | None = None) -> dict:
    """Move money on a balance; refuses (exit 7) to take it below zero. Returns the entry."""
    assert kind in KINDS, kind
    after = cast(RESELLER.c.balance_cents, BigInteger) + amount_cents  # no int4 overflow
    balance = conn.execute(
        update(RESELLER)
        .where(RESELLER.c.id == reseller_id, after >= 0, after <= MAX_BALANCE)
        .values(balance_cents=RESELLER.c.balance_cents + amount_cents)
        .returning(RESELLER.c.balance_cents)).scalar()
    if balance is None:
        have = conn.execute(select(RESELLER.c.balance_cents)
                            .where(RESELLER.c.id == reseller_id)).scalar_one()
        currency = store_currency(conn)
        if amount_cents > 0:
            raise Invalid(f"the balance would exceed {money.format_cents(MAX_BALANCE, currency)}",
                          code="invalid_amount")
        raise Insufficient(f"balance too low: {money.format_cents(have, currency)} available, "
                           f"{money.format_cents(-amount_cents, currency)} needed",
                           code="insufficient_balance",
                           hint="a super admin can add funds with `resellctl reseller balance "
                                "top-up`")
    values = {"reseller_id": reseller_id, "kind": kind, "amount_cents": amount_cents,
              "balance_after_cents": balance, "reference": reference,
              "subscription_id": subscription_id, "actor_email": actor_email,
              "created_at": clock.now()}
    entry_id = conn.execute(insert(LEDGER).values(**values)).inserted_primary_key[0]
    return entry_dict({"id": entry_id, **values})


def entry_dict(row: Any) -> dict:
    get = row.get if isinstance(row, dict) else row._mapping.get
    return {"id": get("id"), "kind": get("kind"), "amount_cents": get("amount_cents"),
            "balance_after_cents": get("balance_after_cents"), "reference": get("reference"),
            "subscription_id": get("subscription_id"), "actor": get("actor_email"),
            "created_at": clock.iso(get("created_at"))}


def ledger_sum(conn: Connection, reseller_id: int) -> int:
    return conn.execute(select(func.coalesce(func.sum(LEDGER.c.amount_cents), 0))
                        .where(LEDGER.c.reseller_id == reseller_id)).scalar_one()


def history(conn: Connection, reseller_id: int, *, since: date | None,
            limit: int | None) -> list[dict]:
    query = (select(LEDGER).where(LEDGER.c.reseller_id == reseller_id)
             .order_by(LEDGER.c.id.desc()).limit(limit))
    if since:
        query = query.where(LEDGER.c.created_at >= clock.start_of_day(since))
    return [entry_dict(row) for row in conn.execute(query)]
