"""Users: the people who operate resellctl."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from resellctl.domain import audit, clock, validate
from resellctl.domain.access import (
    MEMBERSHIP,
    RESELLER,
    USER,
    load_actor,
    normalise_email,
    require_super_admin,
)
from resellctl.domain.context import Ctx
from resellctl.domain.errors import Conflict, NotFound


def user_dict(row: Any, resellers: list[dict] | None = None) -> dict:
    data = {"email": row.email, "name": row.name, "is_super_admin": row.is_super_admin,
            "created_at": clock.iso(row.created_at)}
    if resellers is not None:
        data["resellers"] = resellers
    return data


def insert_user(conn: Connection, email: str, name: str | None, super_admin: bool) -> int:
    email = validate.email(email)
    if conn.execute(select(USER.c.id).where(USER.c.email == email)).first():
        raise Conflict(f"user `{email}` already exists", code="user_exists")
    return conn.execute(insert(USER).values(
        email=email, name=validate.optional_text(name, "name"), is_super_admin=super_admin,
        created_at=clock.now())).inserted_primary_key[0]


def count_users(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(USER)).scalar_one()


def create_user(ctx: Ctx, email: str, *, name: str | None = None,
                super_admin: bool = False) -> dict:
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        require_super_admin(actor, "create users")
        user_id = insert_user(conn, email, name, super_admin)
        row = conn.execute(select(USER).where(USER.c.id == user_id)).one()
        audit.record(conn, actor, "user.create", "user", row.email,
                     after={"email": row.email, "name": row.name,
                            "is_super_admin": row.is_super_admin})
        return user_dict(row)


def list_users(ctx: Ctx) -> list[dict]:
    """Every user for a super admin; otherwise the members of the actor's resellers."""
    with ctx.store.read() as conn:
        actor = load_actor(conn, ctx.actor)
        query = select(USER).order_by(USER.c.email)
        if not actor.is_super_admin:
            peers = select(MEMBERSHIP.c.user_id).where(
                MEMBERSHIP.c.reseller_id.in_(list(actor.roles) or [-1]))
            query = query.where((USER.c.id == actor.id) | USER.c.id.in_(peers))
        return [user_dict(row) for row in conn.execute(query)]


def show_user(ctx: Ctx, email: str) -> dict:
    with ctx.store.read() as conn:
        actor = load_actor(conn, ctx.actor)
        row = conn.execute(select(USER).where(USER.c.email == normalise_email(email))).first()
        visible = row is not None and (actor.is_super_admin or row.id == actor.id or bool(
            set(_memberships(conn, row.id)) & set(actor.roles)))
        if not visible:
            raise NotFound(f"user `{email}` not found", code="user_not_found",
                           hint="run `resellctl user list`")
        return user_dict(row, _resellers_of(conn, row.id))


def whoami(ctx: Ctx) -> dict:
    """The actor, whether it is a super admin, and every reseller it belongs to."""
    with ctx.store.read() as conn:
        actor = load_actor(conn, ctx.actor)
        row = conn.execute(select(USER).where(USER.c.id == actor.id)).one()
        return user_dict(row, _resellers_of(conn, actor.id))


def _memberships(conn: Connection, user_id: int) -> list[int]:
    return list(conn.execute(select(MEMBERSHIP.c.reseller_id)
                             .where(MEMBERSHIP.c.user_id == user_id)).scalars())


def _resellers_of(conn: Connection, user_id: int) -> list[dict]:
    rows = conn.execute(
        select(RESELLER.c.slug, RESELLER.c.name, RESELLER.c.is_active, MEMBERSHIP.c.role)
        .join(MEMBERSHIP, MEMBERSHIP.c.reseller_id == RESELLER.c.id)
        .where(MEMBERSHIP.c.user_id == user_id).order_by(RESELLER.c.slug))
    return [{"slug": r.slug, "name": r.name, "role": r.role, "is_active": r.is_active}
            for r in rows]
