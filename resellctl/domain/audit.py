"""Audit events: written by the service that makes a change, in the same transaction."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from resellctl.domain import clock
from resellctl.domain.access import Actor, load_actor, reseller_row, visible_reseller_ids
from resellctl.domain.context import Ctx
from resellctl.store import tables

AUDIT = tables.audit_event
RESELLER = tables.reseller


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return clock.iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def diff(before: dict | None, after: dict | None) -> dict:
    """Only the fields that changed, as {"before": {...}, "after": {...}}."""
    before, after = before or {}, after or {}
    keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    return {"before": {k: _plain(before.get(k)) for k in keys if k in before},
            "after": {k: _plain(after.get(k)) for k in keys if k in after}}


def record(conn: Connection, actor: Actor | str, action: str, entity_type: str,
           entity_id: object, *, reseller_id: int | None = None,
           before: dict | None = None, after: dict | None = None,
           extra: dict | None = None) -> None:
    """Write one audit event inside the caller's transaction."""
    record_many(conn, actor, action, entity_type, [(entity_id, before, after)],
                reseller_id=reseller_id, extra=extra)


def record_many(conn: Connection, actor: Actor | str, action: str, entity_type: str,
                events: list[tuple[object, dict | None, dict | None]], *,
                reseller_id: int | None = None, extra: dict | None = None) -> None:
    """Write one audit event per (entity id, before, after), in one statement."""
    if not events:
        return
    at, email = clock.now(), actor if isinstance(actor, str) else actor.email
    shared = {k: _plain(v) for k, v in (extra or {}).items()}
    rows = [{"at": at, "actor_email": email, "action": action, "reseller_id": reseller_id,
             "entity_type": entity_type, "entity_id": str(entity_id),
             "changes": {**diff(before, after), **shared}}
            for entity_id, before, after in events]
    conn.execute(_INSERT, rows[0] if len(rows) == 1 else rows)  # one: no executemany


_INSERT = insert(AUDIT)


def list_events(ctx: Ctx, *, since: date | None = None, actor_email: str | None = None,
                action: str | None = None, reseller: str | None = None,
                entity: str | None = None, limit: int | None = None) -> list[dict]:
    """Audit events the actor may see, newest first (every one without a limit)."""
    with ctx.store.read() as conn:
        actor = load_actor(conn, ctx.actor)
        query = (select(AUDIT, RESELLER.c.slug)
                 .select_from(AUDIT.outerjoin(RESELLER, RESELLER.c.id == AUDIT.c.reseller_id))
                 .order_by(AUDIT.c.id.desc()).limit(limit))
        visible = visible_reseller_ids(actor)
        if visible is not None:
            query = query.where(AUDIT.c.reseller_id.in_(visible))
        if since:
            query = query.where(AUDIT.c.at >= clock.start_of_day(since))
        if actor_email:
            query = query.where(AUDIT.c.actor_email == actor_email.strip().lower())
        if action:
            query = query.where(AUDIT.c.action.startswith(action, autoescape=True))
        if reseller is not None:  # unknown, or another reseller's: exit 3, as everywhere
            query = query.where(AUDIT.c.reseller_id == reseller_row(conn, actor, reseller).id)
        if entity:
            query = query.where(AUDIT.c.entity_id == entity)
        return [_event(row) for row in conn.execute(query)]


def _event(row: Any) -> dict:
    return {"id": row.id, "at": clock.iso(row.at), "actor": row.actor_email,
            "action": row.action, "reseller": row.slug, "entity_type": row.entity_type,
            "entity_id": row.entity_id, "changes": row.changes}
