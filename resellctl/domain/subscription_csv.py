"""`subscription list -o csv` of a whole scope on prepared SQL: the statements of
domain/prepared.py (compiled ahead from domain/subscriptions.csv_query by
domain/queries.py) on the driver's own connection (`Store.reader()`), so that the export
a cron job takes every night never imports SQLAlchemy (~0.3 s of its start-up,
docs/performance.md, Subscriptions). A filtered list goes through
subscriptions.export_csv; both run the same cells, joins and order.
"""

from __future__ import annotations

from typing import TextIO

from resellctl.domain import csvfile, figures
from resellctl.domain.context import Ctx
from resellctl.domain.prepared import SQL


def export_csv(ctx: Ctx, out: TextIO, reseller: str | None = None) -> None:
    """Every subscription the actor can see (of `reseller` only, when given), as
    subscriptions.export_csv writes them."""
    with ctx.store.reader() as db:
        actor = figures.load_actor(db, ctx.actor)
        scope = figures.scope(db, actor, reseller)
        sql, constants = SQL[f"subscription_csv_{scope.kind}"][db.dialect]
        csvfile.write_sql(db.dialect, db.driver, sql, {**constants, **scope.params}, out)
