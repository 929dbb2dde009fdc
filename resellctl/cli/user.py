"""`user create|list|show`."""

from __future__ import annotations

from typing import Annotated

import typer

from resellctl.cli.options import Output
from resellctl.cli.output import Col, Format, emit
from resellctl.cli.state import state
from resellctl.operations import columns

app = typer.Typer(help="Manage the people who operate resellctl.", no_args_is_help=True)


@app.command()
def create(
    ctx: typer.Context,
    email: str,
    name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    super_admin: Annotated[bool, typer.Option("--super-admin", help="Vendor staff.")] = False,
    output: Output = Format.table,
) -> None:
    """Create a user (super admin).

    \b
    Example: resellctl user create ana@partner.example --name "Ana Silva"
    """

    emit(state(ctx).call("user.create", email=email, name=name, super_admin=super_admin),
         output)


@app.command("list")
def list_(ctx: typer.Context, output: Output = Format.table) -> None:
    """List the users you can see.

    \b
    Example: resellctl user list -o csv
    """

    emit(state(ctx).call("user.list"), output, columns=columns("user.list"),
         table=["email", "name", Col("is_super_admin", "Super\nadmin"), "created_at"])


@app.command()
def show(ctx: typer.Context, email: str, output: Output = Format.table) -> None:
    """Show a user and its reseller memberships.

    \b
    Example: resellctl user show ana@partner.example
    """

    emit(state(ctx).call("user.show", email=email), output)
