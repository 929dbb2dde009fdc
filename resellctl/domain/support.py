"""Support sessions: short-lived, audited, single-use links into a client's account
(RULES.md "Support sessions")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from resellctl.domain import audit, clock, durations, settings, tokens, validate
from resellctl.domain.access import RESELLER, Actor, load_actor, require_role
from resellctl.domain.context import Ctx
from resellctl.domain.errors import Conflict, Invalid, NotFound
from resellctl.store import tables

SESSION = tables.support_session
CLIENT = tables.client
DEFAULT_TTL = "30m"
WHAT = "support session"


def status_of(row: Any, now: datetime) -> str:
    if row.ended_at is not None:
        return "ended"
    if row.redeemed_at is not None:
        return "redeemed"
    return "expired" if row.expires_at <= now else "active"


def _columns() -> list:
    return [SESSION, CLIENT.c.uid.label("client_uid"), CLIENT.c.name.label("client_name"),
            RESELLER.c.slug.label("reseller_slug")]


def _joined():  # noqa: ANN202
    return (SESSION.join(CLIENT, CLIENT.c.id == SESSION.c.client_id)
            .outerjoin(RESELLER, RESELLER.c.id == SESSION.c.reseller_id))


def session_dict(row: Any, now: datetime) -> dict:
    """A session as every command shows it: never its token."""
    return {"id": row.id, "client": row.client_uid, "client_name": row.client_name,
            "reseller": row.reseller_slug, "opened_by": row.opened_by, "reason": row.reason,
            "status": status_of(row, now), "expires_at": clock.iso(row.expires_at),
            "redeemed_at": clock.iso(row.redeemed_at), "ended_at": clock.iso(row.ended_at),
            "created_at": clock.iso(row.created_at)}


def _visible(conn: Connection, actor: Actor, session_id: str, *,
             for_update: bool = False) -> Any:
    query = select(*_columns()).select_from(_joined()).where(SESSION.c.id == session_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update(of=SESSION)
    row = conn.execute(query).first()
    if row is None or not (actor.is_super_admin or row.reseller_id in actor.roles):
        raise NotFound(f"support session `{session_id}` not found",
                       code="support_session_not_found", hint="run `resellctl support list`")
    return row


def open_session(ctx: Ctx, uid: str, reason: str, ttl: str | None = None) -> dict:
    """A link for `ttl` (default 30m, at most support_session_max_ttl) into the client."""
    from resellctl.domain.clients import client_row

    reason = validate.name(reason, "--reason")
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        client = client_row(conn, actor, uid)
        if not actor.is_super_admin:
            require_role(actor, client.reseller_id, "support", "open support sessions")
        if client.deleted_at is not None or client.status != "active":
            raise Conflict(f"client `{uid}` is not active", code="client_inactive")
        if not client.support_access and not actor.is_super_admin:
            raise Conflict(f"client `{uid}` does not allow support access",
                           code="support_access_off",
                           hint="its reseller's admin can turn it on with `resellctl client "
                                f"edit {uid} --support-access` (partner support only)")
        length = durations.parse(ttl or DEFAULT_TTL, "--ttl")
        cap_text = settings.get(conn, "support_session_max_ttl")
        if length > durations.parse(cap_text):
            raise Invalid(f"--ttl {ttl} is longer than the {cap_text} allowed "
                          "(support_session_max_ttl)", code="ttl_too_long",
                          hint=f"use at most --ttl {cap_text}")
        now = clock.now()
        token, digest = tokens.new_token()
        session_id = tokens.new_id("sup")
        conn.execute(insert(SESSION).values(
            id=session_id, client_id=client.id, reseller_id=client.reseller_id,
            token_hash=digest, opened_by=actor.email, reason=reason,
            expires_at=now + length, created_at=now))
        _audit_both(conn, actor.email, "support.open", _visible(conn, actor, session_id), {},
                    {"status": "active", "reason": reason,
                     "expires_at": clock.iso(now + length)})
        url = tokens.link(settings.get(conn, "support_base_url"), token)
        return {"id": session_id, "client": uid, "url": url, "opened_by": actor.email,
                "reason": reason, "expires_at": clock.iso(now + length)}


def list_sessions(ctx: Ctx, client: str | None = None, active: bool = False) -> list[dict]:
    with ctx.store.read() as conn:
        actor = load_actor(conn, ctx.actor)
        now = clock.now()
        query = select(*_columns()).select_from(_joined()).order_by(SESSION.c.id.desc())
        if not actor.is_super_admin:
            query = query.where(SESSION.c.reseller_id.in_(list(actor.roles)))
        if client:
            from resellctl.domain.clients import client_row

            query = query.where(SESSION.c.client_id == client_row(conn, actor, client).id)
        if active:
            query = query.where(SESSION.c.ended_at.is_(None), SESSION.c.redeemed_at.is_(None),
                                SESSION.c.expires_at > now)
        return [session_dict(row, now) for row in conn.execute(query)]


def end(ctx: Ctx, session_id: str) -> dict:
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        row = _visible(conn, actor, session_id, for_update=True)
        if not actor.is_super_admin:
            require_role(actor, row.reseller_id, "support", "end support sessions")
        now = clock.now()
        status = status_of(row, now)
        if status in ("ended", "expired"):
            raise Conflict(f"support session `{session_id}` is already {status}",
                           code=f"session_{status}")
        conn.execute(update(SESSION).where(SESSION.c.id == session_id).values(ended_at=now))
        _audit_both(conn, actor.email, "support.end", row, {"status": status},
                    {"status": "ended"})
        return session_dict(_visible(conn, actor, session_id), now)


def _audit_both(conn: Connection, actor: str, action: str, row: Any, before: dict,
                after: dict) -> None:
    """One event on the session and one on the client, so that `audit list --entity`
    tells either story."""
    audit.record(conn, actor, action, "support_session", row.id, reseller_id=row.reseller_id,
                 before=before, after=after, extra={"client": row.client_uid})
    audit.record(conn, actor, action, "client", row.client_uid, reseller_id=row.reseller_id,
                 extra={"session": row.id})


def redeem(ctx: Ctx, link: str) -> dict:
    """The product's side (no actor): the session behind a link, once, within its TTL."""
    with ctx.store.write() as conn:
        query = select(*_columns()).select_from(_joined())
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=SESSION)
        row = tokens.find(conn, query, SESSION.c.token_hash, link, WHAT)
        now = clock.now()
        status = status_of(row, now)
        if status != "active":
            raise Conflict(f"this support link is {'used' if status == 'redeemed' else status}",
                           code=f"session_{status}",
                           hint="ask for a new link with `resellctl support open`")
        claimed = conn.execute(
            update(SESSION).where(SESSION.c.id == row.id, SESSION.c.redeemed_at.is_(None),
                                  SESSION.c.ended_at.is_(None))
            .values(redeemed_at=now)).rowcount
        if claimed != 1:
            raise Conflict("this support link is used", code="session_redeemed")
        _audit_both(conn, row.opened_by, "support.redeem", row, {"status": "active"},
                    {"status": "redeemed"})
        updated = conn.execute(select(*_columns()).select_from(_joined())
                               .where(SESSION.c.id == row.id)).one()
        return session_dict(updated, now)


def preview(ctx: Ctx, link: str) -> dict:
    """What the support page shows (no actor, nothing written): the session and the
    branding of the client's reseller. An unknown link is NotFound."""
    from resellctl.domain.resellers import PAGE_COLUMNS, page_view

    with ctx.store.read() as conn:
        row = tokens.find(conn, select(*_columns(), *PAGE_COLUMNS).select_from(_joined()),
                          SESSION.c.token_hash, link, WHAT)
        return {**session_dict(row, clock.now()), **page_view(row)}
