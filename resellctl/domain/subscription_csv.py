"""`subscription list -o csv` of a whole scope on prepared SQL: the statements of
domain/prepared.py (compiled ahead from domain/subscriptions.csv_query by
domain/queries.py) on the driver's own connection (`Store.reader()`), so that the export
a cron job takes every night never imports SQLAlchemy (~0.3 s of its start-up,
docs/performance.md, Subscriptions). A filtered list goes through
subscriptions.export_csv; both run the same cells, joins and order.
"""

from __future__ import annotations

from typing import TextIO

from resellctl.domain import csvfile, csvhalves, figures
from resellctl.domain.context import Ctx
from resellctl.domain.prepared import SQL
from resellctl.store.engine import Reader


def export_csv(ctx: Ctx, out: TextIO, reseller: str | None = None) -> None:
    """Every subscription the actor can see (of `reseller` only, when given), as
    subscriptions.export_csv writes them."""
    with ctx.store.reader() as db:
        actor = figures.load_actor(db, ctx.actor)
        scope = figures.scope(db, actor, reseller)
        if db.dialect == "sqlite" and _in_halves(db, scope, out):
            return
        sql, constants = SQL[f"subscription_csv_{scope.kind}"][db.dialect]
        csvfile.write_sql(db.dialect, db.driver, sql, {**constants, **scope.params}, out)


SPLIT_MIN_ROWS = 50_000  # fewer: a helper process costs more than it saves
SAMPLE_EVERY = 64  # one row in 64 (by rowid) tells where the middle is
LOWEST, BEYOND = (0, "", ""), (2, "", "")  # sort keys: (no end date, end date, id)


def _in_halves(db: Reader, scope: figures.Scope, out: TextIO) -> bool:
    """A big SQLite export on two cores (domain/csvhalves.py), split at the middle of
    a sample of its sort keys; False when it is small or cannot be split."""
    keys = db.rows(SQL[f"subscription_csv_sample_{scope.kind}"], every=SAMPLE_EVERY,
                   **scope.params)
    if len(keys) * SAMPLE_EVERY < SPLIT_MIN_ROWS:
        return False
    middle = tuple(keys[len(keys) // 2])
    sql, constants = SQL[f"subscription_csv_part_{scope.kind}"]["sqlite"]

    def part(low: tuple, high: tuple) -> dict:
        bounds = {**{f"lo_{n}": v for n, v in enumerate(low)},
                  **{f"hi_{n}": v for n, v in enumerate(high)}}
        return {**constants, **scope.params, **bounds}

    return csvhalves.write(db.driver, sql, part(LOWEST, middle), part(middle, BEYOND), out)
