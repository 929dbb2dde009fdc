"""`approval ...`: attach an existing client company through a link its admin approves."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from resellctl.cli.errors import say
from resellctl.cli.options import Output, ResellerOpt
from resellctl.cli.output import Col, Format, emit, is_terminal
from resellctl.cli.state import state
from resellctl.operations import columns

app = typer.Typer(help="Attach existing clients through links their admin approves.",
                  no_args_is_help=True)
ApprovalId = Annotated[str, typer.Argument(metavar="ID", help="Approval id (apr_...).")]
Link = Annotated[str, typer.Argument(metavar="TOKEN_OR_URL",
                                     help="The approval link, or the token at its end.")]
AdminEmail = Annotated[str, typer.Option(help="The client admin's e-mail.")]
TABLE = [Col("id", "ID\nClient", "ident", lambda r: [r["id"], r["client"]]),
         Col("client_name", "Client name"), Col("reseller", kind="ident"),
         Col("status", "Status\nExpires", "ident",
             lambda r: [r["status"], (r["expires_at"] or "")[:10]]),
         Col("created_by", "Created by", optional=True)]



@app.command()
def create(
    ctx: typer.Context,
    client: Annotated[str, typer.Argument(metavar="CLIENT", help="The client's uid.")],
    reseller: ResellerOpt = None,
    expires_in: Annotated[str | None, typer.Option(
        help="How long the link works (e.g. 7d; default: the approval_ttl setting).")
                          ] = None,
    output: Output = Format.table,
) -> None:
    """Create a single-use approval link for the client's admin (reseller admin).

    The link is printed once: send it to the client's admin.

    \b
    Example: resellctl approval create cl_32dc59149465254f4e1c -r acme --expires-in 3d
    """
    current = state(ctx)
    result = current.call("approval.create", uid=client, reseller=current.reseller(reseller),
                          expires_in=expires_in)
    emit_link(result, output, "Send this link to the client's admin (shown only once):")


def emit_link(result: dict, output: Format, note: str) -> None:
    """A new link: in a table, the details, then the URL alone on the last line of
    stdout (to copy, or for a script's `tail -1`); the note goes to stderr on a terminal."""
    if output != Format.table:
        emit(result, output)
        return
    emit({k: v for k, v in result.items() if k != "url"}, output)
    if is_terminal(sys.stderr):
        say(f"\n{note}\n")
    sys.stdout.write(result["url"] + "\n")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        help="pending, approved, rejected, expired or revoked.")] = None,
    output: Output = Format.table,
) -> None:
    """List your resellers' approvals, newest first (links are never shown again).

    \b
    Example: resellctl approval list --status pending
    """
    emit(state(ctx).call("approval.list", status=status), output, columns=columns("approval.list"),
         table=TABLE)


@app.command()
def show(ctx: typer.Context, approval_id: ApprovalId, output: Output = Format.table) -> None:
    """Show one approval.

    \b
    Example: resellctl approval show apr_1a23ac50d791d0ec4
    """
    emit(state(ctx).call("approval.show", approval_id=approval_id), output)


@app.command()
def revoke(ctx: typer.Context, approval_id: ApprovalId, output: Output = Format.table) -> None:
    """Revoke a pending approval: its link stops working.

    \b
    Example: resellctl approval revoke apr_1a23ac50d791d0ec4
    """
    emit(state(ctx).call("approval.revoke", approval_id=approval_id), output)


@app.command()
def accept(ctx: typer.Context, link: Link, admin_email: AdminEmail,
           output: Output = Format.table) -> None:
    """Accept: the client moves to the reseller (the client admin's side; no actor).

    \b
    Example: resellctl approval accept https://partners.example.com/approve/TOKEN \
    --admin-email li@bakery.example
    """
    emit(state(ctx).call("approval.accept", link=link, admin_email=admin_email), output)


@app.command()
def reject(ctx: typer.Context, link: Link, admin_email: AdminEmail,
           output: Output = Format.table) -> None:
    """Reject: the link is closed and the client stays where it is (no actor).

    \b
    Example: resellctl approval reject TOKEN --admin-email li@bakery.example
    """
    emit(state(ctx).call("approval.reject", link=link, admin_email=admin_email), output)

