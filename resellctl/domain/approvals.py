"""Approvals: attach an existing client company to a reseller, approved by the client's
admin through a single-use link (RULES.md "Approvals")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from resellctl.domain import audit, clock, durations, licenses, settings, tokens
from resellctl.domain.access import (
    RESELLER,
    Actor,
    load_actor,
    normalise_email,
    require_role,
    reseller_row,
)
from resellctl.domain.context import Ctx
from resellctl.domain.errors import Conflict, Denied, Invalid, NotFound, UsageError
from resellctl.store import tables

APPROVAL = tables.approval
CLIENT = tables.client
SUB = tables.subscription
STATUSES = ("pending", "approved", "rejected", "expired", "revoked")
WHAT = "approval"


def status_of(row: Any, now: datetime) -> str:
    """A pending approval past its expiry reads as expired (nothing is written)."""
    return "expired" if row.status == "pending" and row.expires_at <= now else row.status


def _columns() -> list:
    return [APPROVAL, CLIENT.c.uid.label("client_uid"), CLIENT.c.name.label("client_name"),
            RESELLER.c.slug.label("reseller_slug")]


def _joined():  # noqa: ANN202
    return (APPROVAL.join(CLIENT, CLIENT.c.id == APPROVAL.c.client_id)
            .join(RESELLER, RESELLER.c.id == APPROVAL.c.reseller_id))


def approval_dict(row: Any, now: datetime) -> dict:
    return {"id": row.id, "client": row.client_uid, "client_name": row.client_name,
            "reseller": row.reseller_slug, "status": status_of(row, now),
            "expires_at": clock.iso(row.expires_at), "created_by": row.created_by,
            "created_at": clock.iso(row.created_at), "decided_at": clock.iso(row.decided_at),
            "decided_by": row.decided_by}


def _visible(conn: Connection, actor: Actor, approval_id: str, *,
             for_update: bool = False) -> Any:
    """An approval of a reseller the actor belongs to; any other reads as not found."""
    query = select(*_columns()).select_from(_joined()).where(APPROVAL.c.id == approval_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update(of=APPROVAL)
    row = conn.execute(query).first()
    if row is None or actor.role_in(row.reseller_id) is None:
        raise NotFound(f"approval `{approval_id}` not found", code="approval_not_found",
                       hint="run `resellctl approval list`")
    return row


def create(ctx: Ctx, uid: str, reseller: str | None, expires_in: str | None = None) -> dict:
    """A single-use link for the client's admin to attach the client to `reseller`."""
    if not reseller:
        raise UsageError("which reseller? pass --reseller", code="reseller_required",
                         hint="or set a default: `resellctl context create … --reseller`")
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        target = reseller_row(conn, actor, reseller)
        require_role(actor, target.id, "admin", "create approvals")
        query = select(CLIENT).where(CLIENT.c.uid == uid, CLIENT.c.deleted_at.is_(None))
        if conn.dialect.name == "postgresql":  # one pending approval per client and reseller
            query = query.with_for_update()
        client = conn.execute(query).first()
        if client is None:  # any client: the uid comes from the client's admin
            raise NotFound(f"client `{uid}` not found", code="client_not_found",
                           hint="ask the client's admin for the uid shown in their account")
        if client.reseller_id == target.id:
            raise Conflict(f"client `{uid}` already belongs to `{reseller}`",
                           code="already_attached")
        now = clock.now()
        _no_pending(conn, client.id, target.id, now)
        ttl = durations.parse(expires_in or settings.get(conn, "approval_ttl"),
                              "--expires-in")
        token, digest = tokens.new_token()
        approval_id = tokens.new_id("apr")
        conn.execute(insert(APPROVAL).values(
            id=approval_id, client_id=client.id, reseller_id=target.id, token_hash=digest,
            status="pending", expires_at=now + ttl, created_by=actor.email, created_at=now))
        row = _visible(conn, actor, approval_id)
        audit.record(conn, actor, "approval.create", "approval", approval_id,
                     reseller_id=target.id, after={"status": "pending"},
                     extra={"client": uid, "expires_at": row.expires_at})
        url = tokens.link(settings.get(conn, "approval_base_url"), token)
        return {"id": approval_id, "client": uid, "reseller": target.slug,
                "status": "pending", "url": url, "expires_at": clock.iso(row.expires_at)}


def _no_pending(conn: Connection, client_id: int, reseller_id: int, now: datetime) -> None:
    existing = conn.execute(select(APPROVAL.c.id).where(
        APPROVAL.c.client_id == client_id, APPROVAL.c.reseller_id == reseller_id,
        APPROVAL.c.status == "pending", APPROVAL.c.expires_at > now)).scalar()
    if existing:
        raise Conflict(f"approval `{existing}` is already pending for this client and "
                       "reseller", code="approval_pending",
                       hint=f"revoke it first: `resellctl approval revoke {existing}`")


def list_approvals(ctx: Ctx, status: str | None = None) -> list[dict]:
    if status is not None and status not in STATUSES:
        raise Invalid(f"unknown status `{status}`; statuses: " + ", ".join(STATUSES),
                      code="invalid_status")
    with ctx.store.read() as conn:
        actor = load_actor(conn, ctx.actor)
        query = select(*_columns()).select_from(_joined()).order_by(APPROVAL.c.id.desc())
        if not actor.is_super_admin:
            query = query.where(APPROVAL.c.reseller_id.in_(list(actor.roles)))
        now = clock.now()
        if status in ("pending", "expired"):  # expiry is read, not written
            query = query.where(APPROVAL.c.status == "pending")
            query = query.where(APPROVAL.c.expires_at > now if status == "pending"
                                else APPROVAL.c.expires_at <= now)
        elif status:
            query = query.where(APPROVAL.c.status == status)
        return [approval_dict(row, now) for row in conn.execute(query)]


def show(ctx: Ctx, approval_id: str) -> dict:
    with ctx.store.read() as conn:
        return approval_dict(_visible(conn, load_actor(conn, ctx.actor), approval_id),
                             clock.now())


def revoke(ctx: Ctx, approval_id: str) -> dict:
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        row = _visible(conn, actor, approval_id, for_update=True)
        require_role(actor, row.reseller_id, "admin", "revoke approvals")
        now = clock.now()
        _still_pending(row, now)
        conn.execute(update(APPROVAL).where(APPROVAL.c.id == approval_id)
                     .values(status="revoked", decided_at=now, decided_by=actor.email))
        audit.record(conn, actor, "approval.revoke", "approval", approval_id,
                     reseller_id=row.reseller_id, before={"status": "pending"},
                     after={"status": "revoked"}, extra={"client": row.client_uid})
        return approval_dict(_visible(conn, actor, approval_id), now)


def _still_pending(row: Any, now: datetime) -> None:
    status = status_of(row, now)
    if status != "pending":
        raise Conflict(f"approval `{row.id}` is {status}", code=f"approval_{status}",
                       hint="ask the reseller for a new link" if status != "revoked" else None)


def _by_link(conn: Connection, link: str) -> Any:
    """The approval behind a token or URL, locked (a hash lookup, never a string loop)."""
    query = select(*_columns()).select_from(_joined())
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=APPROVAL)
    return tokens.find(conn, query, APPROVAL.c.token_hash, link, WHAT)


def _decider(conn: Connection, row: Any, admin_email: str) -> str:
    """The client admin's e-mail (case-insensitive), else exit 6 (still pending)."""
    email = normalise_email(admin_email or "")
    owner = conn.execute(select(CLIENT.c.owner_email).where(CLIENT.c.id == row.client_id)
                         ).scalar_one()
    if not email or email != normalise_email(owner):
        raise Denied(f"`{admin_email}` is not the admin of client `{row.client_uid}`",
                     code="not_client_admin",
                     hint="only the client's admin e-mail can decide")
    return email


def decide(ctx: Ctx, link: str, admin_email: str, accept: bool) -> dict:
    """The client admin's side (no actor): accept moves the client, reject closes."""
    with ctx.store.write() as conn:
        row = _by_link(conn, link)
        now = clock.now()
        _still_pending(row, now)
        email = _decider(conn, row, admin_email)
        if accept:
            _attach(conn, row, email, now)
        status = "approved" if accept else "rejected"
        claimed = conn.execute(
            update(APPROVAL).where(APPROVAL.c.id == row.id, APPROVAL.c.status == "pending")
            .values(status=status, decided_at=now, decided_by=email)).rowcount
        if claimed != 1:  # a concurrent decision won (SQLite serialises; belt and braces)
            raise Conflict(f"approval `{row.id}` was decided meanwhile",
                           code="approval_decided")
        audit.record(conn, email, f"approval.{'accept' if accept else 'reject'}", "approval",
                     row.id, reseller_id=row.reseller_id, before={"status": "pending"},
                     after={"status": status}, extra={"client": row.client_uid})
        updated = conn.execute(select(*_columns()).select_from(_joined())
                               .where(APPROVAL.c.id == row.id)).one()
        return approval_dict(updated, now)


def _attach(conn: Connection, row: Any, email: str, now: datetime) -> None:
    """Move the client to the approval's reseller through the licence chokepoint: a
    licence taken from the new pool (exit 7 / 4 leaves everything as it was), one given
    back to the old; its subscriptions follow it (the new reseller pays renewals)."""
    from resellctl.domain import clients

    client = conn.execute(select(CLIENT).where(CLIENT.c.id == row.client_id)).one()
    clients.lock_clients_of(conn, row.reseller_id)
    if client.status == "active":
        licenses.take(conn, row.reseller_id)
        if client.reseller_id is not None:
            licenses.give_back(conn, client.reseller_id)
    partner = conn.execute(select(RESELLER.c.partner_supported)
                           .where(RESELLER.c.id == row.reseller_id)).scalar_one()
    values: dict[str, Any] = {"reseller_id": row.reseller_id, "external_id": None,
                              "updated_at": now}
    if client.support_type == "partner" and not partner:
        values.update(support_type="vendor", support_access=False)
    conn.execute(update(CLIENT).where(CLIENT.c.id == client.id).values(**values))
    conn.execute(update(SUB).where(SUB.c.client_id == client.id)
                 .values(reseller_id=row.reseller_id, updated_at=now))
    old = (conn.execute(select(RESELLER.c.slug).where(RESELLER.c.id == client.reseller_id))
           .scalar() if client.reseller_id is not None else None)
    audit.record(conn, email, "client.move", "client", client.uid, reseller_id=row.reseller_id,
                 before={"reseller": old}, after={"reseller": row.reseller_slug},
                 extra={"approval": row.id})


def preview(ctx: Ctx, link: str) -> dict:
    """What the approval page shows (no actor, nothing written): the approval, the
    reseller's name and branding. An unknown link is NotFound; any status is returned."""
    from resellctl.domain.resellers import PAGE_COLUMNS, page_view

    with ctx.store.read() as conn:
        row = tokens.find(conn, select(*_columns(), *PAGE_COLUMNS).select_from(_joined()),
                          APPROVAL.c.token_hash, link, WHAT)
        return {**approval_dict(row, clock.now()), **page_view(row)}
