"""Who the actor is and what it may see. Another reseller's object reads as not found."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from resellctl.domain.actors import (  # noqa: F401 - the rules' home; imported from here too
    ROLE_RANK,
    Actor,
    actor_email,
    actor_from_rows,
    normalise_email,
    require_role,
    require_super_admin,
    reseller_not_found,
)
from resellctl.store import tables

USER = tables.user_account
RESELLER = tables.reseller
MEMBERSHIP = tables.membership


def load_actor(conn: Connection, email: str | None) -> Actor:
    """The acting user, with its memberships; exit 6 when unknown."""
    address = actor_email(email)
    return actor_from_rows(conn.execute(ACTOR_QUERY, {"email": address}).all(), email)


# Every service call starts here: one query, built once (building it costs more than
# running it). domain/queries.py compiles it for the prepared path too.
ACTOR_QUERY = (select(USER.c.id, USER.c.email, USER.c.is_super_admin, MEMBERSHIP.c.reseller_id,
                      MEMBERSHIP.c.role)
               .select_from(USER.outerjoin(MEMBERSHIP, MEMBERSHIP.c.user_id == USER.c.id))
               .where(USER.c.email == bindparam("email")))


def reseller_row(conn: Connection, actor: Actor, slug: str, *, for_update: bool = False):  # noqa: ANN201
    """A reseller the actor can see, or NotFound (exit 3) - never a leak of its existence."""
    locked = for_update and conn.dialect.name == "postgresql"
    row = conn.execute(_RESELLER_LOCKED if locked else _RESELLER, {"slug": slug}).first()
    if row is None or actor.role_in(row.id) is None:
        raise reseller_not_found(slug)
    return row


_RESELLER = select(RESELLER).where(RESELLER.c.slug == bindparam("slug"))  # built once
_RESELLER_LOCKED = _RESELLER.with_for_update()


def visible_reseller_ids(actor: Actor) -> list[int] | None:
    """None means every reseller (super admin)."""
    return None if actor.is_super_admin else list(actor.roles)
