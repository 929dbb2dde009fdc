"""`db upgrade|status|backup`: the store's schema and backups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from resellctl.cli.options import Output
from resellctl.cli.output import Format, emit
from resellctl.cli.state import state

app = typer.Typer(help="Manage the store: schema migrations and backups.", no_args_is_help=True)


def _store(ctx: typer.Context):  # noqa: ANN202
    from resellctl.store.engine import Store

    return Store(state(ctx).local_url("db"), check_schema=False)


@app.command()
def upgrade(ctx: typer.Context, output: Output = Format.table) -> None:
    """Migrate the store's schema to this version's head (creates the store if missing).

    \b
    Example: resellctl db upgrade
    """
    from resellctl.store import migrate

    before, after = migrate.upgrade(_store(ctx))
    emit({"revision_before": before, "revision": after, "changed": before != after}, output)


@app.command()
def status(ctx: typer.Context, output: Output = Format.table) -> None:
    """Show the store's current and head schema revisions.

    \b
    Example: resellctl db status -o json
    """
    from resellctl.store import migrate
    from resellctl.store.engine import redact

    store = _store(ctx)
    emit({"database_url": redact(store.url), **migrate.status(store)}, output)


@app.command()
def backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Where to write the copy.", dir_okay=False)],
    output: Output = Format.table,
) -> None:
    """Copy a SQLite store to FILE while it is in use (online backup API).

    \b
    Example: resellctl db backup ~/backups/resellctl-$(date +%F).db
    """
    from resellctl.store import backup as store_backup

    emit(store_backup.backup(_store(ctx), file), output)
