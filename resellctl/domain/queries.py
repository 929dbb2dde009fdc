"""The prepared statements: SQLAlchemy Core builders of the SQL that the fast read
paths run without SQLAlchemy (domain/figures.py: the dashboard and the activity chart).

`python -m resellctl.domain.queries` compiles every statement for SQLite and for
PostgreSQL into resellctl/domain/prepared.py (generated: do not edit it);
tests/test_prepared.py fails when that file is stale. These builders are the one
source of that SQL: change them here and regenerate.

Each statement has named parameters given at run time (`bindparam`) and constants
(the vocabularies: `'active'`, ...) kept beside the SQL. A scoped statement comes in
three variants: the whole channel (`all`), one reseller (`one`, `:reseller_id`) and
the resellers the acting user is a member of (`member`, `:user_id`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import UnaryExpression

from resellctl.domain import subscriptions as subscription_list
from resellctl.domain.access import ACTOR_QUERY, MEMBERSHIP, RESELLER
from resellctl.domain.periods import INTERVALS as MONTHS
from resellctl.store import tables

CLIENT = tables.client
SUB = tables.subscription
SNAPSHOT = tables.usage_snapshot
DIALECTS = ("sqlite", "postgresql")
SCOPES = ("all", "one", "member")
METRICS = {"used_seats": "seats_used", "active_clients": "active_clients",
           "mrr": "mrr_cents"}  # --metric: the snapshot column
TARGET = Path(__file__).with_name("prepared.py")


def twelfths(sub: Any = SUB) -> Any:
    """A subscription's MRR × 12, exact in integers: period price × periods a year."""
    per_year = case(*((sub.c.interval == name, 12 // months)
                      for name, months in MONTHS.items()), else_=0)
    return sub.c.quantity * sub.c.unit_cents * per_year


def unindexed(dialect: str, column: Any) -> Any:
    """On SQLite `+column`, the same value, which SQLite's planner cannot take from an
    index: its documented way to keep an index out of a plan. Grouping or filtering a
    whole channel, SQLite would otherwise walk an index and look up each row it names,
    3-4 times slower than reading the table (docs/performance.md, "Reports").
    PostgreSQL's planner makes that choice by itself."""
    if dialect != "sqlite":
        return column
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def within(column: Any, scope: str) -> Any:
    """The rows of a scope: every reseller, one, or the acting user's."""
    if scope == "all":
        return true()
    if scope == "one":
        return column == bindparam("reseller_id", type_=Integer)
    members = select(MEMBERSHIP.c.reseller_id).where(
        MEMBERSHIP.c.user_id == bindparam("user_id", type_=Integer))
    return column.in_(members.scalar_subquery())


def clients(dialect: str, scope: str) -> Any:
    """Per reseller: clients (not deleted), active and trial ones, seats of the serving."""
    serving = CLIENT.c.status == "active"
    key = unindexed(dialect, CLIENT.c.reseller_id)
    return (select(key.label("rid"), func.count().label("total_clients"),
                   _count(and_(serving, or_(CLIENT.c.stage == "active",
                                           CLIENT.c.stage == "at_risk")), "active_clients"),
                   _count(CLIENT.c.stage == "trial", "trial_clients"),
                   _sum(serving, CLIENT.c.seats_allocated, "allocated_seats"),
                   _sum(serving, CLIENT.c.seats_used, "used_seats"))
            .where(CLIENT.c.deleted_at.is_(None), within(CLIENT.c.reseller_id, scope))
            .group_by(key))


def subscriptions(dialect: str, scope: str) -> Any:
    """Per reseller: active subscriptions, their MRR × 12, and what the ones that renew
    by `:due_by` will cost (at their next quantity and price)."""
    next_price = (func.coalesce(SUB.c.next_quantity, SUB.c.quantity)
                  * func.coalesce(SUB.c.next_unit_cents, SUB.c.unit_cents))
    due = and_(SUB.c.auto_renew.is_(True),
               SUB.c.current_period_end <= bindparam("due_by", type_=Date))
    key = unindexed(dialect, SUB.c.reseller_id)
    return (select(key.label("rid"), func.count().label("active_subscriptions"),
                   func.coalesce(func.sum(twelfths()), 0).label("mrr_twelfths"),
                   _sum(due, next_price, "renewals_due_30d_cents"))
            .where(unindexed(dialect, SUB.c.status) == "active",
                   within(SUB.c.reseller_id, scope))
            .group_by(key))


def pools(dialect: str, scope: str) -> Any:
    """Every reseller of the scope: slug, licences and balance (one row each)."""
    return (select(RESELLER.c.id.label("rid"), RESELLER.c.slug,
                   RESELLER.c.license_count, RESELLER.c.license_used,
                   RESELLER.c.balance_cents)
            .where(within(RESELLER.c.id, scope)))


def activity(metric: str) -> Callable[[str, str], Any]:
    """The metric summed per day between `:first` and `:last`, from the snapshots."""
    def build(dialect: str, scope: str) -> Any:
        column = SNAPSHOT.c[METRICS[metric]]
        return (select(SNAPSHOT.c.day, func.sum(column))
                .where(SNAPSHOT.c.day >= bindparam("first", type_=Date),
                       SNAPSHOT.c.day <= bindparam("last", type_=Date),
                       within(SNAPSHOT.c.reseller_id, scope))
                .group_by(SNAPSHOT.c.day))
    return build


def subscription_csv(dialect: str, scope: str) -> Any:
    """`subscription list -o csv` of a whole scope (domain/subscription_csv.py): the
    cells, joins and order of domain/subscriptions.export_csv."""
    return subscription_list.csv_query(dialect, *_within(scope))


def subscription_csv_part(dialect: str, scope: str) -> Any:
    """subscription_csv's rows whose sort key lies in [lo, hi) (SQLite only: the export
    in two halves, domain/subscription_csv.py)."""
    if dialect != "sqlite":
        return None
    key = tuple_(*subscription_list.list_key())
    low, high = (tuple_(*(bindparam(f"{end}_{n}") for n in range(3))) for end in ("lo", "hi"))
    return subscription_list.csv_query(dialect, *_within(scope), key >= low, key < high)


def subscription_csv_sample(dialect: str, scope: str) -> Any:
    """The sort keys of one subscription in `:every` of a scope (by rowid), in order
    (SQLite only: where to split the export, and how big it is)."""
    if dialect != "sqlite":
        return None
    key = subscription_list.list_key()
    return (select(*key).where(*_within(scope),
                               literal_column("subscription.rowid", Integer)
                               % bindparam("every", type_=Integer) == 0)
            .order_by(*key))


def _within(scope: str) -> tuple:
    """A scope's condition on subscriptions, none for the whole channel."""
    return () if scope == "all" else (within(SUB.c.reseller_id, scope),)


def _count(condition: Any, label: str) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0).label(label)


def _sum(condition: Any, value: Any, label: str) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0).label(label)


RESELLER_BY_SLUG = select(RESELLER.c.id).where(RESELLER.c.slug == bindparam("slug",
                                                                            type_=String))
SCOPED: dict[str, Callable[[str, str], Any]] = {
    "clients": clients, "subscriptions": subscriptions, "pools": pools,
    "subscription_csv": subscription_csv, "subscription_csv_part": subscription_csv_part,
    "subscription_csv_sample": subscription_csv_sample,
    **{f"activity_{metric}": activity(metric) for metric in METRICS}}


def statements() -> dict[str, Callable[[str], Any]]:
    """Every prepared statement by name: a builder per store dialect."""
    found: dict[str, Callable[[str], Any]] = {
        "actor": lambda dialect: ACTOR_QUERY,
        "reseller_by_slug": lambda dialect: RESELLER_BY_SLUG}
    for name, build in SCOPED.items():
        for scope in SCOPES:
            found[f"{name}_{scope}"] = (lambda b, s: lambda dialect: b(dialect, s))(build, scope)
    return found


def compiled(statement: Any, dialect: str) -> tuple[str, dict[str, Any]]:
    """The statement's SQL for `dialect` with named parameters, and its constants."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import pysqlite

        target = pysqlite.dialect(paramstyle="named")
    else:
        from sqlalchemy.dialects.postgresql import psycopg

        target = psycopg.dialect()
    result = statement.compile(dialect=target)
    if "POSTCOMPILE" in str(result):  # an IN list would be rendered only at run time
        raise ValueError("a prepared statement cannot hold IN (...) of values: use OR")
    constants = {name: value for name, value in result.params.items() if value is not None}
    return str(result), constants


def render() -> str:
    """The text of resellctl/domain/prepared.py."""
    lines = ['"""GENERATED by `python -m resellctl.domain.queries` from resellctl/domain/'
             'queries.py.', '', 'Do not edit: change the builders there and regenerate. '
             'Per statement and store:', 'the SQL with named parameters, and the constants '
             'it is run with.', '"""', '', 'SQL = {']
    for name, build in statements().items():
        lines.append(f"    {name!r}: {{")
        for dialect in DIALECTS:
            statement = build(dialect)
            if statement is None:  # a statement of one store only
                continue
            sql, constants = compiled(statement, dialect)
            lines.append(f"        {dialect!r}: (")
            lines += [f"            {line!r}" for line in _lines(sql)]
            lines.append(f"            , {constants!r}),")
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _lines(sql: str) -> list[str]:
    """The SQL as string pieces of at most one source line each (joined, the same SQL)."""
    pieces = sql.replace("\n", " \n").split("\n")
    return [piece for piece in pieces if piece] or [""]


def main() -> None:
    text = render()
    if "--check" in sys.argv[1:]:
        stale = not TARGET.exists() or TARGET.read_text() != text
        if stale:
            print(f"{TARGET} is stale: run `python -m resellctl.domain.queries`")
        raise SystemExit(1 if stale else 0)
    TARGET.write_text(text)
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
