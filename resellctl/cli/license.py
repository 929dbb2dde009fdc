"""`license ...`: licence pools, quotes, grants and purchases, reconciliation."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from resellctl.cli.options import IdempotencyKey, Output, SignedArguments
from resellctl.cli.output import Format, emit
from resellctl.cli.state import state

app = typer.Typer(help="Licence pools: show, quote, grant, revoke, purchase, reconcile.",
                  no_args_is_help=True)
Slug = Annotated[str, typer.Argument(metavar="RESELLER", help="Reseller slug.")]
Quantity = Annotated[int, typer.Argument(metavar="QUANTITY", help="Number of licences.")]
Reason = Annotated[str | None, typer.Option(help="Why (kept in the audit trail).")]



@app.command()
def show(ctx: typer.Context, slug: Slug, output: Output = Format.table) -> None:
    """Show a reseller's licence pool.

    \b
    Example: resellctl license show acme
    """
    emit(state(ctx).call("license.show", slug=slug), output)


@app.command(cls=SignedArguments)
def quote(ctx: typer.Context, quantity: Quantity, output: Output = Format.table) -> None:
    """Price QUANTITY licences at the volume tier, and say when a cheaper tier is close.

    \b
    Example: resellctl license quote 45
    """
    emit(state(ctx).call("license.quote", quantity=quantity), output)


@app.command(cls=SignedArguments)
def grant(ctx: typer.Context, slug: Slug, quantity: Quantity, reason: Reason = None,
          output: Output = Format.table) -> None:
    """Add licences to a pool without charge (super admin).

    \b
    Example: resellctl license grant acme 25 --reason "launch bonus"
    """
    emit(state(ctx).call("license.grant", slug=slug, quantity=quantity, reason=reason), output)


@app.command(cls=SignedArguments)
def revoke(ctx: typer.Context, slug: Slug, quantity: Quantity, reason: Reason = None,
           output: Output = Format.table) -> None:
    """Remove free licences from a pool (super admin); licences in use stay.

    \b
    Example: resellctl license revoke acme 5 --reason "contract change"
    """
    emit(state(ctx).call("license.revoke", slug=slug, quantity=quantity, reason=reason), output)


@app.command(cls=SignedArguments)
def purchase(ctx: typer.Context, slug: Slug, quantity: Quantity,
             idempotency_key: IdempotencyKey = None, output: Output = Format.table) -> None:
    """Buy licences at the tier price, paid from the reseller's balance.

    \b
    Example: resellctl license purchase acme 10 --idempotency-key po-2026-118
    """
    emit(state(ctx).call("license.purchase", slug=slug, quantity=quantity,
                         idempotency_key=idempotency_key), output)


@app.command()
def reconcile(
    ctx: typer.Context,
    slug: Annotated[str | None, typer.Argument(metavar="[RESELLER]",
                                               help="Only this reseller.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Repair the drift found.")] = False,
    output: Output = Format.table,
) -> None:
    """Recount licences in use; report drift and orphan clients (exit 9), repair with --apply.

    \b
    Example: resellctl license reconcile --apply
    """
    from resellctl.domain.errors import Partial

    try:
        result = state(ctx).call("license.reconcile", slug=slug, apply=apply)
    except Partial as found:
        _emit_reconcile(found.result, output)
        raise
    _emit_reconcile(result, output)


DRIFT_COLUMNS = ["reseller", "stored_used", "actual_used", "drift", "repaired", "note"]
ORPHAN_COLUMNS = ["client", "name", "reseller", "reason"]


def _emit_reconcile(result: dict, output: Format) -> None:
    """json: the whole report (one object). ndjson: one line per row, `kind` `drift` (a
    reseller's counts) or `orphan` (a client). csv: the drift rows, one per reseller;
    orphans, which have other columns, are listed on stderr (docs/rules.md)."""
    if output == Format.json:
        emit(result, output)
        return
    if output == Format.ndjson:
        emit([*({"kind": "drift", **row} for row in result["resellers"]),
              *({"kind": "orphan", **row} for row in result["orphans"])], output)
        return
    if output == Format.csv:
        emit(result["resellers"], output, columns=DRIFT_COLUMNS)
        if result["orphans"]:
            from resellctl.cli.errors import say

            say(f"{len(result['orphans'])} orphan client(s), not in the csv: " + ", ".join(
                f"{o['client']} ({o['reseller'] or 'no reseller'}: {o['reason']})"
                for o in result["orphans"]) + "\n")
        return
    if not result["resellers"] and not result["orphans"]:
        sys.stdout.write("No licence drift and no orphan clients: every pool counts its "
                         "active clients.\n")
        return
    for rows, title, columns in (
            (result["resellers"], "Licence drift", DRIFT_COLUMNS),
            (result["orphans"], "Orphan clients", ORPHAN_COLUMNS)):
        if rows:
            emit(rows, output, title=title, columns=columns)
