"""`subscription ...`: the price catalog (plans) for now; subscriptions come next."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from resellctl.cli.options import Output
from resellctl.cli.output import Col, Format, emit, tiers
from resellctl.cli.state import state

app = typer.Typer(help="Subscriptions and the price catalog.", no_args_is_help=True)
plans_app = typer.Typer(help="The price catalog: plans and licence tiers.",
                        no_args_is_help=True)
app.add_typer(plans_app, name="plans")


@plans_app.command("list")
def plans_list(ctx: typer.Context, output: Output = Format.table) -> None:
    """List the catalog's plans and the intervals each offers.

    \b
    Example: resellctl subscription plans list
    """
    from resellctl.domain import catalog

    emit(catalog.list_plans(state(ctx).ctx()), output,
         columns=["code", "name", "custom", "intervals", "prices"], table=PLANS)


def _prices(plan: dict) -> list[str]:
    """One line per interval: `monthly  1+ $15.00 · 50+ $12.00`."""
    if plan["custom"]:
        return ["per contract (custom plan)"]
    return [f"{interval:<9} {tiers(plan['prices'].get(interval, []))}"
            for interval in plan["intervals"]]


PLANS = ["code", "name", Col("prices", "Prices per interval", get=_prices)]


@plans_app.command("show")
def plans_show(ctx: typer.Context, code: str, output: Output = Format.table) -> None:
    """Show one plan's tiered prices (and the licence tiers).

    \b
    Example: resellctl subscription plans show business-location -o json
    """
    from resellctl.domain import catalog

    emit(catalog.show_plan(state(ctx).ctx(), code), output)


@plans_app.command("load")
def plans_load(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE.toml", help="Catalog file.",
                                         dir_okay=False)],
    output: Output = Format.table,
) -> None:
    """Load the price catalog from a TOML file (super admin); locked prices stay.

    \b
    Example: resellctl subscription plans load examples/catalog.toml
    """
    from resellctl.domain import catalog
    from resellctl.domain.errors import Invalid

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError) as exc:
        raise Invalid(f"cannot read {file}: {exc}", code="file_not_found") from exc
    emit(catalog.load(state(ctx).ctx(), text, str(file)), output)
