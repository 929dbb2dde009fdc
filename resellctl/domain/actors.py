"""The acting user and what it may do: plain Python, no store library.

domain/access.py reads actors through SQLAlchemy; domain/figures.py through prepared
SQL on a plain driver connection (a report starts without importing SQLAlchemy). Both
turn the rows into an Actor here, so the rules are written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from resellctl.domain.errors import Denied, NotFound

ROLE_RANK = {"viewer": 1, "support": 2, "admin": 3}


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


def actor_email(email: str | None) -> str:
    """The e-mail to look the actor up by; exit 6 when there is none."""
    if not email:
        raise Denied("no acting user", code="no_actor",
                     hint="pass `--as EMAIL`, set RESELLCTL_ACTOR, or run `resellctl init`")
    return normalise_email(email)


def actor_from_rows(rows: Sequence[Sequence[Any]], email: str) -> Actor:
    """The Actor from the rows of the actor query (id, email, is_super_admin,
    reseller_id, role: one per membership); exit 6 when the user is unknown."""
    if not rows:
        raise Denied(f"unknown user `{email}`", code="unknown_actor",
                     hint="a super admin can add it with `resellctl user create`")
    user_id, address, is_super_admin = rows[0][:3]
    roles = {row[3]: row[4] for row in rows if row[3] is not None}
    return Actor(id=user_id, email=address, is_super_admin=bool(is_super_admin), roles=roles)


def reseller_not_found(slug: str) -> NotFound:
    """The one answer for a reseller that does not exist or that the actor cannot see."""
    return NotFound(f"reseller `{slug}` not found", code="reseller_not_found",
                    hint="run `resellctl reseller list`")


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
