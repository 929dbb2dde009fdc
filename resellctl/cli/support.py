"""`support ...`: short-lived, audited support links into client accounts."""

from __future__ import annotations

from typing import Annotated

import typer

from resellctl.cli.approval import emit_link
from resellctl.cli.options import Output
from resellctl.cli.output import Col, Format, emit
from resellctl.cli.state import state
from resellctl.operations import columns

app = typer.Typer(help="Open short-lived, audited support links into client accounts.",
                  no_args_is_help=True)
SessionId = Annotated[str, typer.Argument(metavar="ID", help="Session id (sup_...).")]
TABLE = [Col("id", "ID\nClient", "ident", lambda r: [r["id"], r["client"]]),
         Col("opened_by", "Opened by\nStatus", "ident", lambda r: [r["opened_by"], r["status"]]),
         Col("expires_at", "Expires"), Col("reason")]



@app.command("open")
def open_(
    ctx: typer.Context,
    client: Annotated[str, typer.Argument(metavar="CLIENT", help="Client uid.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
    ttl: Annotated[str, typer.Option(
        help="How long the link works (at most the support_session_max_ttl setting).")
                   ] = "30m",
    output: Output = Format.table,
) -> None:
    """Open a support session: a single-use link into the client's account.

    Needs the client's support access on (super admins excepted) and the admin or
    support role in its reseller. The link is printed once.

    \b
    Example: resellctl support open cl_32dc59149465254f4e1c --reason "ticket 4411" --ttl 1h
    """
    emit_link(state(ctx).call("support.open", uid=client, reason=reason, ttl=ttl), output,
              "The support link (single use, shown only once):")


@app.command("list")
def list_(
    ctx: typer.Context,
    client: Annotated[str | None, typer.Option(help="Only this client's (uid).")] = None,
    active: Annotated[bool, typer.Option("--active", help="Only links still usable.")
                      ] = False,
    output: Output = Format.table,
) -> None:
    """List support sessions, newest first: active, redeemed, ended or expired (never
    a token).

    \b
    Example: resellctl support list --active
    """
    emit(state(ctx).call("support.list", client=client, active=active), output,
         columns=columns("support.list"), table=TABLE)


@app.command()
def end(ctx: typer.Context, session_id: SessionId, output: Output = Format.table) -> None:
    """End a session early: its link stops working.

    \b
    Example: resellctl support end sup_1a23ac50d791d0ec4
    """
    emit(state(ctx).call("support.end", session_id=session_id), output)


@app.command()
def redeem(
    ctx: typer.Context,
    link: Annotated[str, typer.Argument(metavar="TOKEN_OR_URL",
                                        help="The support link, or the token at its end.")],
    output: Output = Format.table,
) -> None:
    """Redeem a support link, once, within its time (the product's side; no actor).

    \b
    Example: resellctl support redeem https://app.example.com/support/TOKEN -o json
    """
    emit(state(ctx).call("support.redeem", link=link), output)
