"""`settings show|set`: store-wide settings."""

from __future__ import annotations

import typer

from resellctl.cli.options import Output, SignedArguments
from resellctl.cli.output import Format, emit
from resellctl.cli.state import state

app = typer.Typer(help="Show or change store-wide settings.", no_args_is_help=True)


@app.command()
def show(ctx: typer.Context, output: Output = Format.table) -> None:
    """Show every setting with its value.

    \b
    Example: resellctl settings show -o json
    """

    shown = state(ctx).call("settings.show")
    emit(shown, output, headers={key: key for key in shown})  # the keys `settings set` takes


@app.command("set", cls=SignedArguments)
def set_(ctx: typer.Context, key: str, value: str, output: Output = Format.table) -> None:
    """Change a setting (super admin). Keys: trial_days, approval_base_url, support_base_url,
    approval_ttl, support_session_max_ttl, currency.

    \b
    Example: resellctl settings set trial_days 30
    """

    emit(state(ctx).call("settings.set", key=key, value=value), output)
