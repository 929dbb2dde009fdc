"""Who the actor is and what it may see. Another reseller's object reads as not found."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from resellctl.domain.errors import Denied, NotFound
from resellctl.store import tables

ROLE_RANK = {"viewer": 1, "support": 2, "admin": 3}
USER = tables.user_account
RESELLER = tables.reseller
MEMBERSHIP = tables.membership


@dataclass
class Actor:
    id: int
    email: str
    is_super_admin: bool
    roles: dict[int, str] = field(default_factory=dict)  # reseller id -> role

    def role_in(self, reseller_id: int | None) -> str | None:
        if self.is_super_admin:
            return "admin"
        return self.roles.get(reseller_id) if reseller_id is not None else None


def normalise_email(email: str) -> str:
    return email.strip().lower()


def load_actor(conn: Connection, email: str | None) -> Actor:
    """The acting user, with its memberships; exit 6 when unknown."""
    if not email:
        raise Denied("no acting user", code="no_actor",
                     hint="pass `--as EMAIL`, set RESELLCTL_ACTOR, or run `resellctl init`")
    rows = conn.execute(_ACTOR, {"email": normalise_email(email)}).all()
    if not rows:
        raise Denied(f"unknown user `{email}`", code="unknown_actor",
                     hint="a super admin can add it with `resellctl user create`")
    row = rows[0]
    roles = {r.reseller_id: r.role for r in rows if r.reseller_id is not None}
    return Actor(id=row.id, email=row.email, is_super_admin=row.is_super_admin, roles=roles)


# Every service call starts here: one query, built once (building it costs more than
# running it).
_ACTOR = (select(USER.c.id, USER.c.email, USER.c.is_super_admin, MEMBERSHIP.c.reseller_id,
                 MEMBERSHIP.c.role)
          .select_from(USER.outerjoin(MEMBERSHIP, MEMBERSHIP.c.user_id == USER.c.id))
          .where(USER.c.email == bindparam("email")))


def require_super_admin(actor: Actor, what: str) -> None:
    if not actor.is_super_admin:
        raise Denied(f"only a super admin can {what}", code="super_admin_only")


def require_role(actor: Actor, reseller_id: int | None, minimum: str, what: str) -> None:
    """Refuse (exit 6) when the actor's role in a reseller it can see is too low."""
    role = actor.role_in(reseller_id)
    if role is None and reseller_id is None:
        raise Denied(f"only a super admin can {what}", code="super_admin_only")
    if role is None or ROLE_RANK[role] < ROLE_RANK[minimum]:
        raise Denied(f"your role ({role or 'none'}) cannot {what}; it needs {minimum}",
                     code="role_too_low")


def reseller_row(conn: Connection, actor: Actor, slug: str, *, for_update: bool = False):  # noqa: ANN201
    """A reseller the actor can see, or NotFound (exit 3) - never a leak of its existence."""
    locked = for_update and conn.dialect.name == "postgresql"
    row = conn.execute(_RESELLER_LOCKED if locked else _RESELLER, {"slug": slug}).first()
    if row is None or actor.role_in(row.id) is None:
        raise NotFound(f"reseller `{slug}` not found", code="reseller_not_found",
                       hint="run `resellctl reseller list`")
    return row


_RESELLER = select(RESELLER).where(RESELLER.c.slug == bindparam("slug"))  # built once
_RESELLER_LOCKED = _RESELLER.with_for_update()


def visible_reseller_ids(actor: Actor) -> list[int] | None:
    """None means every reseller (super admin)."""
    return None if actor.is_super_admin else list(actor.roles)
