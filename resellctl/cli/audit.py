"""`audit list`."""

from __future__ import annotations

from typing import Annotated

import typer

from resellctl.cli.options import MAX_LISTED, Output, limit_option
from resellctl.cli.output import Col, Format, Whole, changes, emit, instant
from resellctl.cli.state import state
from resellctl.operations import columns

app = typer.Typer(help="Read the audit trail.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="Only events on or after DATE.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only events by this e-mail.")] = None,
    action: Annotated[str | None, typer.Option(help="Action prefix, e.g. `client.`.")] = None,
    reseller: Annotated[str | None, typer.Option(
        "--reseller", "-r", help="Only this reseller's events (slug).")] = None,
    entity: Annotated[str | None, typer.Option(help="Entity id (slug, uid, e-mail, id).")] = None,
    limit: Annotated[int | None, limit_option("At most N events (default: all).",
                                              max=MAX_LISTED)] = None,
    output: Output = Format.table,
) -> None:
    """List audit events, newest first.

    \b
    Example: resellctl audit list --action license. --since 2026-01-01
    """
    from resellctl.domain import clock

    events = state(ctx).call(
        "audit.list", since=clock.parse_date(since, "--since") if since else None,
        actor_email=actor, action=action, reseller=reseller, entity=entity, limit=limit)
    emit(events, output, columns=columns("audit.list"), table=TABLE)


def _when(event: dict) -> list[str]:
    return [Whole(instant(event["at"])), Whole(event["actor"] or "")]


def _what(event: dict) -> list[str]:
    """The action (and reseller), the entity, then one line per change."""
    head = event["action"] + (f" · {event['reseller']}" if event["reseller"] else "")
    return [Whole(head), Whole(f"{event['entity_type']} {event['entity_id']}"),
            *changes(event["changes"] or {}, entity=event["entity_id"]).splitlines()]


TABLE = [Col("at", "At\nActor", "text", _when), Col("event", "Event\nEntity, changes", get=_what)]
