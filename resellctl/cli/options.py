"""Shared Annotated options, so every command spells them the same way."""

from __future__ import annotations

from typing import Annotated

import typer

from resellctl.cli.output import Format
from resellctl.cli.state import state


def _remember_output(ctx: typer.Context, value: Format | None) -> Format:
    value = value or Format.table
    state(ctx).output = value.value
    return value


Output = Annotated[
    Format,
    typer.Option("--output", "-o", envvar="RESELLCTL_OUTPUT", callback=_remember_output,
                 case_sensitive=False, help="Output format.", show_default=True),
]
ResellerOpt = Annotated[
    str | None,
    typer.Option("--reseller", "-r", help="Reseller slug (default: the context's reseller)."),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
IdempotencyKey = Annotated[
    str | None,
    typer.Option("--idempotency-key", help="Retry-safe key: the same key and request "
                 "return the first result and move no money again."),
]


def confirm(question: str, yes: bool) -> None:
    """Ask on a terminal; refuse (exit 2) without a terminal unless --yes."""
    import sys

    from resellctl.domain.errors import UsageError

    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question.rstrip('?')}: confirmation needed",
                         hint="pass --yes to confirm without a terminal")
    if not typer.confirm(question, default=False, err=True):
        raise UsageError("cancelled")
