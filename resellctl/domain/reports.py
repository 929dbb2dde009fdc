"""Reports: the dashboard's figures, seats, recurring costs, daily snapshots and the
activity series. Every figure is an SQL aggregate (GROUP BY in the database), never a
sum over rows loaded into Python."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, literal, or_, select
from sqlalchemy.engine import Connection

from resellctl.domain import clock, durations, figures, queries
from resellctl.domain.access import RESELLER, Actor, load_actor, reseller_row
from resellctl.domain.context import Ctx
from resellctl.domain.errors import Invalid
from resellctl.domain.figures import mrr
from resellctl.domain.periods import INTERVALS as MONTHS
from resellctl.domain.periods import add_months
from resellctl.domain.queries import twelfths
from resellctl.operations import MONTHLY_COLUMNS
from resellctl.store import tables
from resellctl.store.engine import Reader

CLIENT = tables.client
SUB = tables.subscription
SNAPSHOT = tables.usage_snapshot
INTERVALS = tuple(MONTHS)


def scope(conn: Connection, actor: Actor, reseller: str | None) -> list[int] | None:
    """The reseller ids a report covers: one (`--reseller`), the actor's, or None (all:
    a super admin's whole channel)."""
    if reseller:
        return [reseller_row(conn, actor, reseller).id]
    return None if actor.is_super_admin else sorted(actor.roles)


def _within(column: Any, ids: list[int] | None) -> Any:
    return literal(True) if ids is None else column.in_(ids)


def _unindexed(conn: Connection, column: Any) -> Any:
    """`+column` on SQLite (domain/queries.unindexed)."""
    return queries.unindexed(conn.dialect.name, column)


def _per_reseller(conn: Connection, actor: Actor | None, reseller_id: int | None,
                  today: date) -> list[dict]:
    """The dashboard's figures per reseller (domain/figures.py), inside this
    transaction; actor None: every reseller."""
    where = figures.Scope("all") if actor is None else figures.Scope.of(actor, reseller_id)
    return figures.ranked(figures.channel(Reader.over(conn), where, today)[0])


# ---------------------------------------------------------------- seats


def seats(ctx: Ctx, reseller: str | None = None, over_only: bool = False) -> dict:
    """Per client (active, not deleted): allocated, used, utilisation; totals."""
    with ctx.store.read() as conn:
        actor = load_actor(conn, ctx.actor)
        ids = scope(conn, actor, reseller)
        where = [CLIENT.c.deleted_at.is_(None), CLIENT.c.status == "active",
                 _within(CLIENT.c.reseller_id, ids)]
        if over_only:
            where.append(CLIENT.c.seats_used > CLIENT.c.seats_allocated)
        query = (select(CLIENT.c.uid, CLIENT.c.name, RESELLER.c.slug, CLIENT.c.seats_allocated,
                        CLIENT.c.seats_used)
                 .select_from(CLIENT.outerjoin(RESELLER, RESELLER.c.id == CLIENT.c.reseller_id))
                 .where(*where).order_by(CLIENT.c.name, CLIENT.c.uid))
        rows = [{"client": r.uid, "name": r.name, "reseller": r.slug,
                 "seats_allocated": r.seats_allocated, "seats_used": r.seats_used,
                 "utilisation": _ratio(r.seats_used, r.seats_allocated),
                 "over_allocation": r.seats_used > r.seats_allocated}
                for r in conn.execute(query)]
        totals = conn.execute(select(
            func.count(), func.coalesce(func.sum(CLIENT.c.seats_allocated), 0),
            func.coalesce(func.sum(CLIENT.c.seats_used), 0),
            func.coalesce(func.sum(case((CLIENT.c.seats_used > CLIENT.c.seats_allocated, 1),
                                        else_=0)), 0)).where(*where)).one()
    return {"clients": rows, "totals": {
        "clients": totals[0], "seats_allocated": int(totals[1]), "seats_used": int(totals[2]),
        "utilisation": _ratio(int(totals[2]), int(totals[1])),
        "over_allocation": int(totals[3])}}


def _ratio(used: int, allocated: int) -> float | None:
    """Used ÷ allocated, 4 decimals (0.8125 = 81.25 %); None without an allocation."""
    return round(used / allocated, 4) if allocated else None


# ---------------------------------------------------------------- recurring costs


def recurring(ctx: Ctx, reseller: str | None = None, upcoming: str = "30d") -> dict:
    """Per interval: count, period total, MRR; total MRR/ARR; the charges due in the
    window day by day, and per reseller the day its balance runs short, if it does."""
    window = durations.parse(upcoming, "--upcoming")
    if window.days < 1 or window.days > 366:
        raise Invalid("--upcoming must be 1d to 366d", code="invalid_duration")
    with ctx.store.read() as conn:
        actor = load_actor(conn, ctx.actor)
        ids = scope(conn, actor, reseller)
        active = and_(SUB.c.status == "active", _within(SUB.c.reseller_id, ids))
        by_interval = {row.interval: row for row in conn.execute(
            select(SUB.c.interval, func.count().label("count"),
                   func.sum(SUB.c.quantity * SUB.c.unit_cents).label("period_cents"),
                   func.sum(twelfths()).label("twelfths"))
            .where(active).group_by(SUB.c.interval))}
        today = clock.today()
        last = today + timedelta(days=window.days)
        due = conn.execute(
            select(SUB.c.reseller_id, SUB.c.current_period_end, SUB.c.start_date,
                   SUB.c.interval, SUB.c.next_interval,
                   (func.coalesce(SUB.c.next_quantity, SUB.c.quantity)
                    * func.coalesce(SUB.c.next_unit_cents, SUB.c.unit_cents)).label("price"))
            .where(active, SUB.c.auto_renew.is_(True), SUB.c.current_period_end <= last)).all()
        balances = dict(conn.execute(select(RESELLER.c.id, RESELLER.c.balance_cents)
                                     .where(_within(RESELLER.c.id, ids))).all())
        slugs = dict(conn.execute(select(RESELLER.c.id, RESELLER.c.slug)
                                  .where(_within(RESELLER.c.id, ids))).all())
    intervals = [{"interval": name, "count": int(by_interval[name].count),
                  "period_cents": int(by_interval[name].period_cents),
                  "mrr_cents": mrr(by_interval[name].twelfths)} if name in by_interval
                 else {"interval": name, "count": 0, "period_cents": 0, "mrr_cents": 0}
                 for name in INTERVALS]
    total = mrr(sum(int(r.twelfths) for r in by_interval.values()))
    days, short = _charges(due, balances, slugs, today, last)
    return {"reseller": reseller, "intervals": intervals, "mrr_cents": total,
            "arr_cents": 12 * total, "upcoming_days": window.days,
            "balance_cents": sum(balances.values()),
            "due_cents": sum(d["charges_cents"] for d in days), "upcoming": days,
            "covered": not short, "short": short}


def _charges(due: list[Any], balances: dict[int, int], slugs: dict[int, str], today: date,
             last: date) -> tuple[list[dict], list[dict]]:
    """The renewals the sweep would charge, day by day (an overdue one today), each
    reseller's balance running down; where it runs short, and by how much."""
    charges: dict[date, list[tuple[int | None, int]]] = {}
    for row in due:
        interval = row.next_interval or row.interval
        end = row.current_period_end
        while end <= last:
            charges.setdefault(max(end, today), []).append((row.reseller_id, row.price))
            end = add_months(end, MONTHS[interval], row.start_date.day)
    left = dict(balances)
    short: dict[int, dict] = {}
    days = []
    for day in sorted(charges):
        items = charges[day]
        for rid, price in items:
            if rid is None:
                continue
            left[rid] -= price
            if left[rid] < 0 and rid not in short:
                short[rid] = {"reseller": slugs[rid], "date": day.isoformat(),
                              "shortfall_cents": -left[rid]}
        days.append({"date": day.isoformat(), "renewals": len(items),
                     "charges_cents": sum(p for _, p in items),
                     "balance_after_cents": sum(left.values())})
    for rid, entry in short.items():
        entry["shortfall_cents"] = -left[rid]  # by the window's end
    return days, sorted(short.values(), key=lambda s: (s["date"], s["reseller"]))


# ---------------------------------------------------------------- snapshots and activity


def snapshot(ctx: Ctx, day: date | None = None) -> dict:
    """Record the day's figures, one row per reseller (cron); a rerun replaces the day.
    Set-based: one DELETE and one INSERT … SELECT."""
    from resellctl.domain.access import require_super_admin

    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        require_super_admin(actor, "record snapshots")
        day = day or clock.today()
        now = clock.now()
        rows = _per_reseller(conn, None, None, clock.today())
        replaced = conn.execute(delete(SNAPSHOT).where(SNAPSHOT.c.day == day)).rowcount
        if rows:
            conn.execute(insert(SNAPSHOT), [
                {"reseller_id": r["reseller_id"], "day": day, "recorded_at": now,
                 "total_clients": r["total_clients"], "active_clients": r["active_clients"],
                 "trial_clients": r["trial_clients"], "seats_allocated": r["allocated_seats"],
                 "seats_used": r["used_seats"], "license_count": r["license_count"],
                 "license_used": r["license_used"],
                 "active_subscriptions": r["active_subscriptions"],
                 "mrr_cents": r["mrr_cents"], "balance_cents": r["balance_cents"]}
                for r in rows])
        return {"date": day.isoformat(), "resellers": len(rows), "replaced": replaced > 0}


# ---------------------------------------------------------------- the monthly export

MONTHLY = MONTHLY_COLUMNS  # the export's columns, in order (CLI.md `report monthly`)
MOVEMENTS = ("new", "expansion", "contraction", "churn")


MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
# The months `report monthly` takes are those of RESELLCTL_NOW's years: its arithmetic
# reaches a day before the month and the month after it, which 0001-01 and 9999-12
# would take out of a date's range.
FIRST_YEAR, LAST_YEAR = clock.FIRST_YEAR, clock.LAST_YEAR


def parse_month(text: str) -> date:
    """`YYYY-MM` exactly (no sign, space or short year), 1900-01 to 9998-12; else exit 5."""
    match = MONTH.fullmatch(text)
    if match is None:
        raise Invalid(f"--month `{text}` is not a month like 2026-11 (YYYY-MM)",
                      code="invalid_month")
    year, month = int(match[1]), int(match[2])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise Invalid(f"--month `{text}` is out of range: months from {FIRST_YEAR}-01 to "
                      f"{LAST_YEAR}-12", code="invalid_month")
    return date(year, month, 1)


def monthly(ctx: Ctx, month: str, reseller: str | None = None) -> list[dict]:
    """One row per reseller for the month (cron export). `mrr_cents` is the MRR of the
    periods paid for on the month's last day (today, for the month under way: nothing
    is counted that has not happened yet); the previous month's plus the four
    movements equals it, exactly. A month that has not begun is refused (exit 5)."""
    first = parse_month(month)
    after = add_months(first, 1)
    today = clock.today()
    if first > today:
        raise Invalid(f"--month `{month}` has not begun yet (today is {today})",
                      code="invalid_month", hint="export a month up to the current one")
    with ctx.store.read() as conn:
        actor = load_actor(conn, ctx.actor)
        ids = scope(conn, actor, reseller)
        resellers = conn.execute(select(RESELLER.c.id, RESELLER.c.slug)
                                 .where(_within(RESELLER.c.id, ids),  # and existing by then
                                        RESELLER.c.created_at < clock.start_of_day(after))
                                 .order_by(RESELLER.c.slug)).all()
        parts = [_mrr_movements(conn, ids, first - timedelta(1),
                                min(after - timedelta(1), today)),
                 _client_counts(conn, ids, first, after), _money_in_month(conn, ids, first, after),
                 _pools_at(conn, ids, first, after, [rid for rid, _ in resellers],
                           actor, ids[0] if reseller else None)]
    rows = []
    for rid, slug in resellers:
        merged: dict[str, Any] = {}
        for part in parts:
            merged.update(part.get(rid, {}))
        rows.append({"month": first.strftime("%Y-%m"), "reseller": slug,
                     **{key: merged.get(key, 0) for key in MONTHLY[2:]}})
    return rows


def _mrr_movements(conn: Connection, ids: list[int] | None, start: date, end: date) -> dict:
    """Per reseller: MRR on `start` and `end` and the four movements between, in SQL; the
    movements rounded (largest remainder) to add up to the rounded difference."""
    period = tables.subscription_period
    tw = period.c.period_cents * (12 // period.c.months)
    on = lambda day: case((and_(period.c.start_date <= day, period.c.end_date > day), tw),  # noqa: E731
                          else_=0)
    per_sub = (select(period.c.subscription_id, period.c.reseller_id,
                      func.sum(on(start)).label("a"), func.sum(on(end)).label("b"))
               .where(period.c.start_date <= end, period.c.end_date > start,
                      _within(period.c.reseller_id, ids))
               .group_by(period.c.subscription_id, period.c.reseller_id).subquery())
    a, b = per_sub.c.a, per_sub.c.b
    total = lambda cond, value: func.coalesce(func.sum(case((cond, value), else_=0)), 0)  # noqa: E731
    query = select(per_sub.c.reseller_id, total(a >= 0, a).label("start"),
                   total(b >= 0, b).label("end"),
                   total(and_(a == 0, b > 0), b).label("new"),
                   total(and_(a > 0, b > a), b - a).label("expansion"),
                   total(and_(b > 0, b < a), b - a).label("contraction"),
                   total(and_(a > 0, b == 0), -a).label("churn")).group_by(per_sub.c.reseller_id)
    result = {}
    for row in conn.execute(query):
        start_mrr, end_mrr = mrr(row.start), mrr(row.end)
        moved = _apportion([int(getattr(row, m)) for m in MOVEMENTS], end_mrr - start_mrr)
        result[row.reseller_id] = {"mrr_cents": end_mrr,
                                   **{f"mrr_{m}_cents": v for m, v in zip(MOVEMENTS, moved,
                                                                         strict=True)}}
    return result


def _apportion(twelfths_: list[int], target: int) -> list[int]:
    """Cents for amounts in twelfths that add up to `target` exactly: each amount
    truncated toward zero, then the missing cents given to the largest remainders."""
    cents = [int(t / 12) for t in twelfths_]  # toward zero
    remainders = [t - 12 * c for t, c in zip(twelfths_, cents, strict=True)]
    step = 1 if target > sum(cents) else -1
    order = sorted(range(len(cents)), key=lambda i: -remainders[i] * step)
    for i in order[:abs(target - sum(cents))]:
        cents[i] += step
    return cents


def _client_counts(conn: Connection, ids: list[int] | None, first: date, after: date) -> dict:
    audit_ = tables.audit_event
    start, end = clock.start_of_day(first), clock.start_of_day(after)
    rid = _unindexed(conn, CLIENT.c.reseller_id)
    scoped = _within(CLIENT.c.reseller_id, ids)
    moved = _resellers_at(conn, end)
    if moved:  # a client moved since counts for the reseller it had then (docs/rules.md)
        rid = case(moved, value=CLIENT.c.uid, else_=rid)
        scoped = or_(scoped, CLIENT.c.uid.in_(list(moved)))
    client = (select(rid.label("reseller_id"), CLIENT.c.created_at, CLIENT.c.deleted_at,
                     CLIENT.c.import_id, CLIENT.c.trial_ends_at)
              .where(scoped).subquery())
    c = client.c
    counts = conn.execute(
        select(c.reseller_id,
               func.sum(case((and_(c.created_at < end, or_(
                   c.deleted_at.is_(None), c.deleted_at >= end)), 1), else_=0))
               .label("clients_total"),
               func.sum(case((and_(c.created_at >= start, c.created_at < end),
                              1), else_=0)).label("clients_new"),
               func.sum(case((and_(c.import_id.is_not(None), c.trial_ends_at.is_not(None),
                                   c.created_at >= start, c.created_at < end),
                              1), else_=0)).label("imported_trials"))
        .where(_within(c.reseller_id, ids)).group_by(c.reseller_id)).all()
    stage = audit_.c.changes["after"]["stage"].as_string()
    action = _unindexed(conn, audit_.c.action)  # the month's events come from ix_audit_at
    moves = dict(conn.execute(
        select(audit_.c.reseller_id, func.count())
        .where(audit_.c.at >= start, audit_.c.at < end, stage == "churned",
               action.in_(("client.edit", "client.create")),
               _within(audit_.c.reseller_id, ids))
        .group_by(audit_.c.reseller_id)).all())
    trials = dict(conn.execute(
        select(audit_.c.reseller_id, func.count())
        .where(audit_.c.at >= start, audit_.c.at < end, stage == "trial",
               action.in_(("client.edit", "client.create")),
               _within(audit_.c.reseller_id, ids))
        .group_by(audit_.c.reseller_id)).all())
    return {r.reseller_id: {"clients_total": int(r.clients_total or 0),
                            "clients_new": int(r.clients_new or 0),
                            "clients_churned": int(moves.get(r.reseller_id, 0)),
                            "trials_started": int(trials.get(r.reseller_id, 0))
                            + int(r.imported_trials or 0)}
            for r in counts}


def _resellers_at(conn: Connection, end: Any) -> dict[str, int | None]:
    """The clients moved to another reseller (an accepted approval) since `end`: the id
    of the reseller each had then, the `before` of its first `client.move` event after
    `end`, so that a past month's export does not change (approvals are few: no query
    but the first in the usual case)."""
    approval = tables.approval
    targets = [rid for (rid,) in conn.execute(
        select(approval.c.reseller_id).distinct()
        .where(approval.c.status == "approved", approval.c.decided_at >= end))]
    if not targets:
        return {}
    audit_ = tables.audit_event
    first: dict[str, str | None] = {}
    for uid, changes in conn.execute(
            select(audit_.c.entity_id, audit_.c.changes)
            .where(audit_.c.reseller_id.in_(targets), audit_.c.at >= end,
                   audit_.c.action == "client.move")
            .order_by(audit_.c.at, audit_.c.id)):
        first.setdefault(uid, ((changes or {}).get("before") or {}).get("reseller"))
    ids = dict(conn.execute(select(RESELLER.c.slug, RESELLER.c.id)
                            .where(RESELLER.c.slug.in_([s for s in first.values() if s])))
               .all())
    return {uid: ids.get(slug) for uid, slug in first.items()}


def _money_in_month(conn: Connection, ids: list[int] | None, first: date, after: date
                    ) -> dict:
    ledger_ = tables.ledger_entry
    purchase = tables.license_purchase
    start, end = clock.start_of_day(first), clock.start_of_day(after)
    money_ = conn.execute(
        select(ledger_.c.reseller_id,
               func.sum(case((ledger_.c.kind.in_(("activation", "renewal")),
                              -ledger_.c.amount_cents), else_=0)).label("charges_cents"),
               func.sum(case((ledger_.c.kind == "top_up", ledger_.c.amount_cents), else_=0))
               .label("top_ups_cents"))
        .where(ledger_.c.created_at >= start, ledger_.c.created_at < end,
               _within(ledger_.c.reseller_id, ids)).group_by(ledger_.c.reseller_id)).all()
    bought = dict(conn.execute(
        select(purchase.c.reseller_id, func.sum(purchase.c.quantity))
        .where(purchase.c.created_at >= start, purchase.c.created_at < end,
               _within(purchase.c.reseller_id, ids)).group_by(purchase.c.reseller_id)).all())
    result: dict[int, dict] = {rid: {"licenses_purchased": int(q)} for rid, q in bought.items()}
    for row in money_:
        result.setdefault(row.reseller_id, {}).update(
            charges_cents=int(row.charges_cents or 0), top_ups_cents=int(row.top_ups_cents or 0))
    return result


def _pools_at(conn: Connection, ids: list[int] | None, first: date, after: date,
              wanted: list[int], actor: Actor, reseller_id: int | None) -> dict:
    """Seats and licences at the month's end: the month's last snapshot of each reseller;
    for the current month without one, today's figures (computed only when one of the
    `wanted` resellers has no snapshot)."""
    last = (select(SNAPSHOT.c.reseller_id, func.max(SNAPSHOT.c.day).label("day"))
            .where(SNAPSHOT.c.day >= first, SNAPSHOT.c.day < after,
                   _within(SNAPSHOT.c.reseller_id, ids))
            .group_by(SNAPSHOT.c.reseller_id).subquery())
    rows = conn.execute(select(SNAPSHOT).join(last, and_(
        last.c.reseller_id == SNAPSHOT.c.reseller_id, last.c.day == SNAPSHOT.c.day))).all()
    result = {r.reseller_id: {"seats_allocated": r.seats_allocated, "seats_used": r.seats_used,
                              "license_count": r.license_count, "license_used": r.license_used}
              for r in rows}
    if first <= clock.today() < after and any(rid not in result for rid in wanted):
        for row in _per_reseller(conn, actor, reseller_id, clock.today()):
            result.setdefault(row["reseller_id"], {
                "seats_allocated": row["allocated_seats"], "seats_used": row["used_seats"],
                "license_count": row["license_count"], "license_used": row["license_used"]})
    return result
