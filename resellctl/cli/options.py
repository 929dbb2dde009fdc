"""Shared Annotated options, so every command spells them the same way."""

from __future__ import annotations

import re
from difflib import get_close_matches
from typing import Annotated, Any

import typer
from typer._click.exceptions import NoSuchOption
from typer.core import TyperCommand, TyperOption

from resellctl.cli.output import Format
from resellctl.cli.state import state


class SignedArguments(TyperCommand):
    """A command whose arguments may be negative numbers (`license purchase acme -5`).
    Click would take `-5` for an unknown option (`No such option: -5`, exit 2) before the
    command could name the rule it breaks (exit 5); any other unknown option is still one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context_settings = {**self.context_settings, "ignore_unknown_options": True}

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        params = [p for p in self.get_params(ctx) if isinstance(p, TyperOption)]
        known = {name for p in params for name in (*p.opts, *p.secondary_opts)}
        takes_value = {name for p in params if not (p.is_flag or p.count) for name in p.opts}
        rest = iter(args)
        for arg in rest:
            if arg == "--":
                break
            if arg[:1] != "-" or arg == "-" or _NUMBER.match(arg):
                continue
            name = arg.partition("=")[0] if arg.startswith("--") else arg[:2]
            if name not in known:
                raise NoSuchOption(name, possibilities=get_close_matches(name, known), ctx=ctx)
            if name == arg and name in takes_value:
                next(rest, None)  # the option's value, which may itself start with `-`
        return super().parse_args(ctx, args)


_NUMBER = re.compile(r"--?[0-9.]")  # no option's name starts with a digit: `-5`, `--5`, `-.5`


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
