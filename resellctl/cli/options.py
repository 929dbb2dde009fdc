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

# Every --limit / --offset is declared below, so each one is capped: a huge number is a
# usage error (exit 2) instead of overflowing the store's 64-bit integers (exit 1).
MAX_ROWS = 1_000_000_000
"""The highest --limit or --offset any command accepts: far beyond any store, far below
2**63 (SQLite's and PostgreSQL's LIMIT / OFFSET are 64-bit)."""

MAX_LISTED = 100_000
"""The lower cap of lists read whole into memory before printing (audit events, ledger
entries); the portfolio streams, so `client list` takes up to MAX_ROWS."""


def limit_option(help: str, *, max: int = MAX_ROWS) -> typer.models.OptionInfo:
    """`--limit N`: 1 <= N <= max (a command may cap lower, never higher than MAX_ROWS)."""
    assert 1 <= max <= MAX_ROWS
    return typer.Option(min=1, max=max, help=help)


def offset_option(help: str = "Skip the first N.") -> typer.models.OptionInfo:
    """`--offset N`: 0 <= N <= MAX_ROWS."""
    return typer.Option(min=0, max=MAX_ROWS, help=help)


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
