"""`subscription ...`: subscriptions billed from the reseller balance, and the catalog."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from resellctl.cli.options import (
    IdempotencyKey,
    Output,
    ResellerOpt,
    Yes,
    confirm,
    limit_option,
    offset_option,
)
from resellctl.cli.output import Col, Format, Whole, emit, tiers
from resellctl.cli.state import state
from resellctl.operations import columns

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
    emit(state(ctx).call("subscription.plans.list"), output,
         columns=columns("subscription.plans.list"), table=PLANS)


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
    emit(state(ctx).call("subscription.plans.show", code=code), output)


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
    from resellctl.domain.errors import Invalid

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError) as exc:
        raise Invalid(f"cannot read {file}: {exc}", code="file_not_found") from exc
    emit(state(ctx).call("subscription.plans.load", text=text, source=str(file)), output)


# ---------------------------------------------------------------- subscriptions

SubId = Annotated[str, typer.Argument(metavar="ID", help="Subscription id (sub_...).")]
Interval = Annotated[str | None, typer.Option(
    help="monthly, quarterly, biannual or yearly (those the plan offers; default monthly).")]


def _subscriptions():  # noqa: ANN202
    from resellctl.domain import subscriptions

    return subscriptions


def _product(row: dict) -> list[str]:
    return [f"{row['plan_name']} × {row['quantity']}", Whole(row["id"])]


def _state_lines(row: dict) -> list[str]:
    """Status, interval, and the date the period ends (renews, or ends without renewal)."""
    end = row["current_period_end"]
    if row["status"] in ("active", "paused") and end:
        end = end if row["auto_renew"] else f"ends {end}"
    elif row["status"] in ("cancelled", "expired") and end:
        end = f"ended {end}"
    else:
        end = "" if row["status"] == "pending" else (end or "")
    return [row["status"], row["interval"], end]


LISTED = [Col("product", "Product\nID", get=_product),
          Col("client", "Client\nOwner e-mail",
              get=lambda r: [r["client_name"], Whole(r["owner_email"])]),
          Col("status", "Status\nInterval\nRenews on", "ident", _state_lines),
          Col("period_cents", "Period\nprice", "money", optional=True),
          Col("activated_at", "Activated", "date", optional=True)]


@app.command()
def quote(
    ctx: typer.Context,
    plan: Annotated[str, typer.Option(help="Plan code.")],
    quantity: Annotated[int, typer.Option(help="Seats or systems to cover.")],
    interval: Interval = None,
    output: Output = Format.table,
) -> None:
    """Price a plan for a quantity: tier, unit and period price, MRR, the next cheaper tier.

    \b
    Example: resellctl subscription quote --plan business-location --quantity 45
    """
    emit(state(ctx).call("subscription.quote", plan_code=plan, quantity=quantity,
                         interval=interval), output)


@app.command()
def create(
    ctx: typer.Context,
    client: Annotated[str, typer.Argument(metavar="CLIENT", help="Client uid.")],
    plan: Annotated[str, typer.Option(help="Plan code.")],
    quantity: Annotated[int, typer.Option(help="Seats or systems.")],
    interval: Interval = None,
    unit_price: Annotated[str | None, typer.Option(
        help="Unit price per period, for custom plans (e.g. 99.50).")] = None,
    support_type: Annotated[str | None, typer.Option(
        help="vendor or partner: changes the client's support type too.")] = None,
    auto_renew: Annotated[bool, typer.Option(
        "--auto-renew/--no-auto-renew", help="Renew by the sweep when the period ends.")
                          ] = True,
    output: Output = Format.table,
) -> None:
    """Create a pending subscription; its unit price is locked now from the catalog tier.

    \b
    Example: resellctl subscription create cl_1a2b3c4d5e6f --plan business-location --quantity 12
    """
    from resellctl.domain import money

    cents = money.parse_amount(unit_price, field="--unit-price") if unit_price else None
    emit(state(ctx).call("subscription.create", uid=client, plan_code=plan, quantity=quantity,
                         interval=interval, unit_cents=cents, support_type=support_type,
                         auto_renew=auto_renew), output)


@app.command()
def activate(ctx: typer.Context, sub_id: SubId, idempotency_key: IdempotencyKey = None,
             output: Output = Format.table) -> None:
    """Charge the first period to the reseller's balance and start the subscription.

    \b
    Example: resellctl subscription activate sub_0193c2d4e5f6a7b8c --idempotency-key ORDER-77
    """
    emit(state(ctx).call("subscription.activate", sub_id=sub_id,
                         idempotency_key=idempotency_key), output)


@app.command()
def renew(ctx: typer.Context, sub_id: SubId, idempotency_key: IdempotencyKey = None,
          output: Output = Format.table) -> None:
    """Charge the next period now (from the old end; from today when expired).

    \b
    Example: resellctl subscription renew sub_0193c2d4e5f6a7b8c
    """
    emit(state(ctx).call("subscription.renew", sub_id=sub_id,
                         idempotency_key=idempotency_key), output)


@app.command()
def pause(ctx: typer.Context, sub_id: SubId, output: Output = Format.table) -> None:
    """Pause an active subscription (no charge, no refund).

    \b
    Example: resellctl subscription pause sub_0193c2d4e5f6a7b8c
    """
    emit(state(ctx).call("subscription.pause", sub_id=sub_id), output)


@app.command()
def resume(ctx: typer.Context, sub_id: SubId, output: Output = Format.table) -> None:
    """Resume a paused subscription (no charge).

    \b
    Example: resellctl subscription resume sub_0193c2d4e5f6a7b8c
    """
    emit(state(ctx).call("subscription.resume", sub_id=sub_id), output)


@app.command()
def cancel(ctx: typer.Context, sub_id: SubId, yes: Yes = False,
           output: Output = Format.table) -> None:
    """Cancel a subscription: it ends now, with no refund.

    \b
    Example: resellctl subscription cancel sub_0193c2d4e5f6a7b8c --yes
    """
    confirm(f"Cancel subscription {sub_id}? It ends now, with no refund.", yes)
    emit(state(ctx).call("subscription.cancel", sub_id=sub_id), output)


@app.command()
def edit(
    ctx: typer.Context,
    sub_id: SubId,
    quantity: Annotated[int | None, typer.Option(help="New quantity.")] = None,
    interval: Interval = None,
    auto_renew: Annotated[bool | None, typer.Option(
        "--auto-renew/--no-auto-renew", help="Renew by the sweep when the period ends.",
        show_default=False)] = None,
    output: Output = Format.table,
) -> None:
    """Change quantity, interval or auto-renew; on an active subscription quantity and
    interval take effect at the next renewal (`show` says what it will cost).

    \b
    Example: resellctl subscription edit sub_0193c2d4e5f6a7b8c --quantity 20 --interval yearly
    """
    emit(state(ctx).call("subscription.edit", sub_id=sub_id, quantity=quantity,
                         interval=interval, auto_renew=auto_renew), output)


@app.command("list")
def list_(
    ctx: typer.Context,
    client: Annotated[str | None, typer.Option(help="Only this client's (uid).")] = None,
    reseller: ResellerOpt = None,
    status: Annotated[str | None, typer.Option(
        help="pending, active, paused, cancelled or expired.")] = None,
    renewing_within: Annotated[str | None, typer.Option(
        help="Only active ones whose period ends within this duration (e.g. 30d).")] = None,
    limit: Annotated[int | None, limit_option("At most N subscriptions.")] = None,
    offset: Annotated[int, offset_option()] = 0,
    output: Output = Format.table,
) -> None:
    """List the activated products: product, client, status, interval, period price,
    renewal date; soonest renewal first.

    \b
    Example: resellctl subscription list -r acme --renewing-within 30d
    """
    current = state(ctx)
    filters = {"client": client, "reseller": current.reseller(reseller), "status": status,
               "renewing_within": renewing_within, "limit": limit, "offset": offset}
    if output == Format.csv and not current.remote:  # formatted by the database
        if not (client or status or renewing_within or limit is not None or offset):
            from resellctl.domain import subscription_csv  # a whole scope: no SQLAlchemy

            subscription_csv.export_csv(current.ctx(), sys.stdout, filters["reseller"])
            return
        _subscriptions().export_csv(current.ctx(), sys.stdout, **filters)
        return
    if output in (Format.csv, Format.ndjson):  # the server's bytes, streamed through
        current.copy("subscription.list", output, None, **filters)
        return
    emit(current.call("subscription.list", **filters), output, table=LISTED)


@app.command()
def show(ctx: typer.Context, sub_id: SubId, output: Output = Format.table) -> None:
    """Show one subscription, and what its next period will cost.

    \b
    Example: resellctl subscription show sub_0193c2d4e5f6a7b8c
    """
    emit(state(ctx).call("subscription.show", sub_id=sub_id), output)


@app.command()
def sweep(ctx: typer.Context, output: Output = Format.table) -> None:
    """Renew or expire every active subscription whose period has ended (cron, super admin).

    Renews while the reseller's balance covers each period (catching up period by
    period); expires the rest. Idempotent per day.

    \b
    Example: resellctl subscription sweep -o json
    """
    emit(state(ctx).call("subscription.sweep"), output)
