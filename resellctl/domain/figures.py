"""The dashboard's figures and the activity series, on prepared SQL.

What people look at every morning starts fast: these services run the statements of
domain/prepared.py (compiled ahead from the SQLAlchemy builders of domain/queries.py)
on the driver's own connection (`Store.reader()`), so a `report dashboard` or `report
activity` process never imports SQLAlchemy (~0.3 s of its start-up here:
docs/performance.md, Reports). `report snapshot` and `report monthly` reuse the same
figures inside their SQLAlchemy transactions (`Reader.over`). Every figure is an SQL
aggregate; Python adds up a few groups per reseller, never rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from resellctl.domain import clock, money
from resellctl.domain.actors import Actor, actor_email, actor_from_rows, reseller_not_found
from resellctl.domain.context import Ctx
from resellctl.domain.errors import Invalid
from resellctl.domain.prepared import SQL

FIGURES = ("total_clients", "active_clients", "trial_clients", "allocated_seats",
           "used_seats", "license_count", "license_used", "license_available",
           "balance_cents", "active_subscriptions", "mrr_cents", "arr_cents",
           "renewals_due_30d_cents")
ZERO = {"total_clients": 0, "active_clients": 0, "trial_clients": 0, "allocated_seats": 0,
        "used_seats": 0, "active_subscriptions": 0, "mrr_twelfths": 0,
        "renewals_due_30d_cents": 0, "license_count": 0, "license_used": 0,
        "balance_cents": 0}
RANGES = {"7d": 7, "30d": 30, "6m": 183, "12m": 366}
# --metric's words: the activity statements domain/queries.py compiled (one per metric)
METRICS = tuple(name.removeprefix("activity_").removesuffix("_all")
                for name in SQL if name.startswith("activity_") and name.endswith("_all"))
DUE_WITHIN_DAYS = 30


class Scope:
    """The resellers a report covers: all of them (a super admin's channel), one
    (`--reseller`), or the acting user's; its prepared statements' variant and
    parameters."""

    def __init__(self, kind: str, **params: int) -> None:
        self.kind, self.params = kind, params

    @classmethod
    def of(cls, actor: Actor, reseller_id: int | None = None) -> Scope:
        if reseller_id is not None:
            return cls("one", reseller_id=reseller_id)
        return cls("all") if actor.is_super_admin else cls("member", user_id=actor.id)


def mrr(total_twelfths: int | None) -> int:
    """MRR from a sum of twelfths, rounded half-even once (RULES.md)."""
    return money.round_half_even(int(total_twelfths or 0), 12)


def load_actor(db: Any, email: str | None) -> Actor:
    """The acting user (domain/access.load_actor, on a Reader)."""
    address = actor_email(email)
    return actor_from_rows(db.rows(SQL["actor"], email=address), email)


def scope(db: Any, actor: Actor, reseller: str | None) -> Scope:
    """The scope of `--reseller` (one the actor can see, else not found), or the
    actor's."""
    if not reseller:
        return Scope.of(actor)
    found = db.rows(SQL["reseller_by_slug"], slug=reseller)
    if not found or actor.role_in(found[0][0]) is None:
        raise reseller_not_found(reseller)
    return Scope.of(actor, found[0][0])


# ---------------------------------------------------------------- the dashboard


def dashboard(ctx: Ctx, reseller: str | None = None, *, per_reseller: bool | None = None
              ) -> dict:
    """CLI.md's figures for the scope; with several resellers, a row per reseller too
    (sorted by MRR)."""
    with ctx.store.reader() as db:
        where = scope(db, load_actor(db, ctx.actor), reseller)
        today = clock.today()
        rows, summed = channel(db, where, today)
    head = {"reseller": reseller, "date": today.isoformat(), **figures(summed)}
    if per_reseller is False or (per_reseller is None and reseller):
        return head
    return {**head, "resellers": [{k: v for k, v in row.items() if k != "reseller_id"}
                                  for row in ranked(rows)]}


def channel(db: Any, where: Scope, today: date) -> tuple[list[dict], dict]:
    """Each reseller of the scope with its raw figures (MRR still in twelfths), and the
    scope's: the sums of its groups (direct clients, in no reseller, count in a whole
    channel's). One grouped query per table."""
    due_by = today + timedelta(days=DUE_WITHIN_DAYS)
    grouped = [_by_reseller(db.rows(SQL[f"clients_{where.kind}"], **where.params),
                            ("total_clients", "active_clients", "trial_clients",
                             "allocated_seats", "used_seats")),
               _by_reseller(db.rows(SQL[f"subscriptions_{where.kind}"], due_by=due_by,
                                    **where.params),
                            ("active_subscriptions", "mrr_twelfths", "renewals_due_30d_cents"))]
    found = db.rows(SQL[f"pools_{where.kind}"], **where.params)
    slugs = {rid: slug for rid, slug, *_ in found}
    pools = _by_reseller([(rid, *rest) for rid, _, *rest in found],
                         ("license_count", "license_used", "balance_cents"))
    summed = dict(ZERO)
    for part in [*grouped, pools]:
        for values in part.values():
            for key, value in values.items():
                summed[key] += value
    rows = [{**ZERO, **pools[rid], **grouped[0].get(rid, {}), **grouped[1].get(rid, {}),
             "reseller": slug, "reseller_id": rid} for rid, slug in slugs.items()]
    return rows, summed


def _by_reseller(found: Sequence[Sequence[Any]], names: tuple[str, ...]) -> dict:
    return {row[0]: {name: int(value or 0) for name, value in zip(names, row[1:], strict=True)}
            for row in found}


def figures(raw: dict) -> dict:
    """CLI.md's figures from raw ones: MRR and ARR from the twelfths, free licences."""
    value = mrr(raw["mrr_twelfths"])
    done = {**raw, "mrr_cents": value, "arr_cents": 12 * value,
            "license_available": raw["license_count"] - raw["license_used"]}
    return {key: done[key] for key in FIGURES}


def ranked(rows: list[dict]) -> list[dict]:
    """A row per reseller with its figures, by MRR (highest first), then slug."""
    done = [{"reseller": row["reseller"], "reseller_id": row["reseller_id"], **figures(row)}
            for row in rows]
    return sorted(done, key=lambda r: (-r["mrr_cents"], r["reseller"]))


# ---------------------------------------------------------------- activity


def activity(ctx: Ctx, reseller: str | None = None, range_: str = "30d",
             metric: str = "used_seats") -> list[dict]:
    """The metric per day over the range from the snapshots (summed over the scope);
    a day without a snapshot has value None (a gap, not a zero)."""
    if range_ not in RANGES:
        raise Invalid(f"--range must be one of {', '.join(RANGES)}", code="invalid_range")
    if metric not in METRICS:
        raise Invalid(f"--metric must be one of {', '.join(METRICS)}", code="invalid_metric")
    with ctx.store.reader() as db:
        where = scope(db, load_actor(db, ctx.actor), reseller)
        today = clock.today()
        first = today - timedelta(days=RANGES[range_] - 1)
        found = {_day(day): value for day, value in db.rows(
            SQL[f"activity_{metric}_{where.kind}"], first=first, last=today, **where.params)}
    days = (first + timedelta(days=n) for n in range(RANGES[range_]))
    return [{"date": day.isoformat(),
             "value": int(found[day]) if found.get(day) is not None else None}
            for day in days]


def _day(value: date | str) -> date:
    """A DATE column's value: a date from PostgreSQL, ISO text from SQLite."""
    return date.fromisoformat(value) if isinstance(value, str) else value
