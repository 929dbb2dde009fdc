"""`token create|list|revoke`: API tokens for `resellctl serve` (HTTP.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from resellctl.cli.errors import say
from resellctl.cli.options import Output
from resellctl.cli.output import Col, Format, Whole, emit, is_terminal
from resellctl.cli.state import state
from resellctl.operations import columns

app = typer.Typer(help="Manage API tokens for `resellctl serve`.", no_args_is_help=True)
UserOpt = Annotated[str | None, typer.Option(
    "--user", metavar="EMAIL", help="Another user's tokens (super admin).")]



@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="What the token is for.")] = None,
    expires_in: Annotated[str, typer.Option(
        help="Lifetime like 30d (at most 365d), or `never` (super admin).")] = "90d",
    user: UserOpt = None,
    output: Output = Format.table,
) -> None:
    """Create an API token; it is shown once, only its hash is kept.

    \b
    Example: resellctl token create --name "nightly export" --expires-in 30d
    """
    result = state(ctx).call("token.create", name=name, expires_in=expires_in, user=user)
    emit(result, output)
    if output == Format.table and is_terminal():
        say("Copy the token now: it is not shown again. Use it as "
            "`Authorization: Bearer <token>`, or in `resellctl context create NAME --url URL "
            "--token TOKEN`.\n")


@app.command("list")
def list_(ctx: typer.Context, user: UserOpt = None, output: Output = Format.table) -> None:
    """List API tokens (never the tokens themselves): yours, or everyone's for a super admin.

    \b
    Example: resellctl token list -o json
    """
    emit(state(ctx).call("token.list", user=user), output, columns=columns("token.list"),
         table=[Whole("id"), "name", Whole("user"), Col("created_at", "Created"),
                Col("last_used_at", "Last used"), Col("expires_at", "Expires"), "status"])


@app.command()
def revoke(ctx: typer.Context,
           token_id: Annotated[str, typer.Argument(metavar="ID", help="Token id (tok_...).")],
           output: Output = Format.table) -> None:
    """Revoke an API token at once.

    \b
    Example: resellctl token revoke tok_0192a4b5c6d7e8f90
    """
    emit(state(ctx).call("token.revoke", token_id=token_id), output)
