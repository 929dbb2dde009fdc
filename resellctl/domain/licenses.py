"""Licence pools. `take` and `give_back` are the ONE chokepoint every path goes through.

Each is a single conditional UPDATE inside the caller's transaction: on SQLite
that transaction began with BEGIN IMMEDIATE; on PostgreSQL the UPDATE row-locks
the reseller and re-checks the condition after any concurrent commit. Either
way the check and the change are one step, so a pool can never be oversold
(a CHECK constraint backs this up at the database level).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, case, func, insert, select, update
from sqlalchemy.engine import Connection

from resellctl.domain import audit, catalog, clock, idempotency, ledger, money, settings, validate
from resellctl.domain.access import (
    RESELLER,
    load_actor,
    require_role,
    require_super_admin,
    reseller_row,
)
from resellctl.domain.context import Ctx
from resellctl.domain.errors import Conflict, Insufficient, Invalid, Partial
from resellctl.store import tables

CLIENT = tables.client
PURCHASE = tables.license_purchase
NEXT_TIER_REACH = 4  # suggest the next tier when it needs at most a quarter more licences


# Built once: constructing the statement costs more than running it (~0.4 ms a take).
_TAKE = (update(RESELLER)
         .where(RESELLER.c.id == bindparam("reseller_id"), RESELLER.c.is_active.is_(True),
                RESELLER.c.license_used + bindparam("count") <= RESELLER.c.license_count)
         .values(license_used=RESELLER.c.license_used + bindparam("count"))
         .returning(RESELLER.c.license_used))
_GIVE_BACK = (update(RESELLER).where(RESELLER.c.id == bindparam("reseller_id"))
              .values(license_used=case((RESELLER.c.license_used >= bindparam("count"),
                                         RESELLER.c.license_used - bindparam("count")),
                                        else_=0))
              .returning(RESELLER.c.license_used))


def take(conn: Connection, reseller_id: int, count: int = 1) -> int:
    """Take `count` licences from an active reseller's pool; returns license_used."""
    used = conn.execute(_TAKE, {"reseller_id": reseller_id, "count": count}).scalar()
    if used is not None:
        return used
    row = conn.execute(select(RESELLER).where(RESELLER.c.id == reseller_id)).one()
    if not row.is_active:
        raise Conflict(f"reseller `{row.slug}` is inactive", code="reseller_inactive",
                       hint=f"a super admin can run `resellctl reseller activate {row.slug}`")
    free = row.license_count - row.license_used
    raise Insufficient(f"reseller `{row.slug}` has {free} free licence{'s' * (free != 1)}, "
                       f"{count} needed", code="no_free_license",
                       hint=f"buy more with `resellctl license purchase {row.slug} N`")


def give_back(conn: Connection, reseller_id: int, count: int = 1) -> int:
    """Return `count` licences to the pool (never below zero); returns license_used."""
    return conn.execute(_GIVE_BACK, {"reseller_id": reseller_id, "count": count}).scalar_one()


def pool(row) -> dict:  # noqa: ANN001
    return {"reseller": row.slug, "license_count": row.license_count,
            "license_used": row.license_used,
            "license_available": row.license_count - row.license_used}


def show(ctx: Ctx, slug: str) -> dict:
    with ctx.store.read() as conn:
        return pool(reseller_row(conn, load_actor(conn, ctx.actor), slug))


def price(tiers: list[dict], quantity: int) -> dict:
    """Whole purchase at the tier chosen by the quantity bought."""
    tier = catalog.tier_for(tiers, quantity)
    result = {"quantity": quantity, "tier_min": tier["min"], "unit_cents": tier["unit_cents"],
              "total_cents": quantity * tier["unit_cents"], "next_tier_min": None,
              "next_tier_total_cents": None}
    higher = [t for t in tiers if t["min"] > quantity and t["unit_cents"] < tier["unit_cents"]]
    if higher:
        step = higher[0]
        if (step["min"] - quantity) * NEXT_TIER_REACH <= quantity:
            result["next_tier_min"] = step["min"]
            result["next_tier_total_cents"] = step["min"] * step["unit_cents"]
    return result


def quote(ctx: Ctx, quantity: int) -> dict:
    validate.positive(quantity, "QUANTITY")
    with ctx.store.read() as conn:
        load_actor(conn, ctx.actor)
        result = price(catalog.license_tiers(conn), quantity)
        return {**result, "currency": settings.get(conn, "currency")}


def grant(ctx: Ctx, slug: str, quantity: int, reason: str | None) -> dict:
    """Add licences to a pool without charge (super admin)."""
    return _change_count(ctx, slug, validate.count(quantity, "QUANTITY"), reason)


def revoke(ctx: Ctx, slug: str, quantity: int, reason: str | None) -> dict:
    """Remove free licences from a pool (super admin); licences in use stay."""
    return _change_count(ctx, slug, -validate.count(quantity, "QUANTITY"), reason)


def _change_count(ctx: Ctx, slug: str, delta: int, reason: str | None) -> dict:
    verb = "grant" if delta > 0 else "revoke"
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        require_super_admin(actor, f"{verb} licences")
        row = reseller_row(conn, actor, slug)
        _room(row, delta)
        after = conn.execute(
            update(RESELLER)
            .where(RESELLER.c.id == row.id,
                   RESELLER.c.license_count + delta >= RESELLER.c.license_used)
            .values(license_count=RESELLER.c.license_count + delta)
            .returning(RESELLER)).first()
        if after is None:
            current = conn.execute(select(RESELLER).where(RESELLER.c.id == row.id)).one()
            free = current.license_count - current.license_used
            raise Insufficient(f"cannot revoke {-delta}: reseller `{slug}` has only {free} "
                               "free licences", code="licenses_in_use",
                               hint="deactivate clients first, or revoke fewer")
        audit.record(conn, actor, f"license.{verb}", "reseller", slug, reseller_id=row.id,
                     before={"license_count": after.license_count - delta},
                     after={"license_count": after.license_count},
                     extra={"quantity": abs(delta), "reason": reason})
        return pool(after)


def purchase(ctx: Ctx, slug: str, quantity: int, idempotency_key: str | None = None) -> dict:
    """Buy licences at the tier price, paid from the balance, in one transaction."""
    validate.count(quantity, "QUANTITY")
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        row = reseller_row(conn, actor, slug)
        require_role(actor, row.id, "admin", "buy licences")
        return idempotency.once(
            conn, idempotency_key, "license.purchase", {"reseller": slug, "quantity": quantity},
            lambda: _purchase(conn, actor, row, quantity))


def _room(row: Any, added: int) -> None:
    """Refuse (exit 5) a pool that would grow past the stores' integer range."""
    if row.license_count + added > validate.MAX_COUNT:
        raise Invalid(f"reseller `{row.slug}` would hold {row.license_count + added:,} "
                      f"licences, more than the {validate.MAX_COUNT:,} a pool can hold",
                      code="invalid_quantity")


def _purchase(conn: Connection, actor, row, quantity: int) -> dict:  # noqa: ANN001
    _room(row, quantity)
    quote_ = price(catalog.license_tiers(conn), quantity)
    entry = ledger.post(conn, row.id, "license_purchase", -quote_["total_cents"], actor.email,
                        reference=f"{quantity} licences at "
                        f"{money.format_cents(quote_['unit_cents'], ledger.store_currency(conn))}")
    after = conn.execute(update(RESELLER).where(RESELLER.c.id == row.id)
                         .values(license_count=RESELLER.c.license_count + quantity)
                         .returning(RESELLER)).one()
    conn.execute(insert(PURCHASE).values(
        reseller_id=row.id, quantity=quantity, unit_cents=quote_["unit_cents"],
        total_cents=quote_["total_cents"], ledger_entry_id=entry["id"],
        created_at=clock.now()))
    result = {"reseller": row.slug, "quantity": quantity, "unit_cents": quote_["unit_cents"],
              "total_cents": quote_["total_cents"], "license_count": after.license_count,
              "balance_cents": after.balance_cents}
    audit.record(conn, actor, "license.purchase", "reseller", row.slug, reseller_id=row.id,
                 before={"license_count": after.license_count - quantity,
                         "balance_cents": after.balance_cents + quote_["total_cents"]},
                 after={"license_count": after.license_count,
                        "balance_cents": after.balance_cents},
                 extra={"quantity": quantity, "total_cents": quote_["total_cents"]})
    return result


def actual_used(conn: Connection):  # noqa: ANN201
    """Per reseller, the clients that hold a licence (active, not deleted)."""
    return (select(CLIENT.c.reseller_id, func.count().label("n"))
            .where(CLIENT.c.status == "active", CLIENT.c.deleted_at.is_(None),
                   CLIENT.c.reseller_id.is_not(None))
            .group_by(CLIENT.c.reseller_id).subquery())


def reconcile(ctx: Ctx, slug: str | None = None, apply: bool = False) -> dict:
    """Find drift (stored used != actual) and orphans; repair drift with apply."""
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        require_super_admin(actor, "reconcile licences")
        target = reseller_row(conn, actor, slug) if slug else None
        counted = actual_used(conn)
        actual = func.coalesce(counted.c.n, 0)
        query = (select(RESELLER.c.id, RESELLER.c.slug, RESELLER.c.license_count,
                        RESELLER.c.license_used, actual.label("actual"))
                 .select_from(RESELLER.outerjoin(counted, counted.c.reseller_id == RESELLER.c.id))
                 .where(RESELLER.c.license_used != actual).order_by(RESELLER.c.slug))
        if target is not None:
            query = query.where(RESELLER.c.id == target.id)
        drift = [_drift_row(conn, actor, r, apply) for r in conn.execute(query).all()]
        orphans = _orphans(conn, target.id if target is not None else None)
        result = {"resellers": drift, "orphans": orphans, "applied": apply}
        if apply:
            audit.record(conn, actor, "license.reconcile", "reseller", slug or "*",
                         reseller_id=target.id if target is not None else None,
                         extra={"repaired": [d["reseller"] for d in drift if d["repaired"]]})
    unrepaired = any(not d["repaired"] for d in drift)
    if ((drift or orphans) and not apply) or unrepaired:
        raise Partial(f"found {len(drift)} reseller(s) with licence drift and "
                      f"{len(orphans)} orphan client(s)", code="drift_found", result=result,
                      hint=None if apply else "run again with --apply to repair the drift")
    return result


def _drift_row(conn: Connection, actor, row, apply: bool) -> dict:  # noqa: ANN001
    result = {"reseller": row.slug, "stored_used": row.license_used,
              "actual_used": row.actual, "drift": row.license_used - row.actual,
              "repaired": False, "note": None}
    if not apply:
        return result
    if row.actual > row.license_count:
        result["note"] = (f"{row.actual} active clients exceed the pool of {row.license_count}: "
                          "grant licences or deactivate clients, then reconcile again")
        return result
    conn.execute(update(RESELLER).where(RESELLER.c.id == row.id)
                 .values(license_used=row.actual))
    audit.record(conn, actor, "license.reconcile", "reseller", row.slug, reseller_id=row.id,
                 before={"license_used": row.license_used},
                 after={"license_used": row.actual})
    result["repaired"] = True
    return result


def _orphans(conn: Connection, reseller_id: int | None) -> list[dict]:
    """Active clients whose reseller is inactive (or gone)."""
    query = (select(CLIENT.c.uid, CLIENT.c.name, RESELLER.c.slug, RESELLER.c.is_active)
             .select_from(CLIENT.outerjoin(RESELLER, RESELLER.c.id == CLIENT.c.reseller_id))
             .where(CLIENT.c.reseller_id.is_not(None), CLIENT.c.status == "active",
                    CLIENT.c.deleted_at.is_(None),
                    and_(RESELLER.c.is_active.is_not(True)) | RESELLER.c.id.is_(None))
             .order_by(CLIENT.c.uid))
    if reseller_id is not None:
        query = query.where(CLIENT.c.reseller_id == reseller_id)
    return [{"client": r.uid, "name": r.name, "reseller": r.slug,
             "reason": "reseller missing" if r.slug is None else "reseller inactive"}
            for r in conn.execute(query)]
