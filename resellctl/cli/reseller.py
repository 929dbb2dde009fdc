"""`reseller ...`: partner companies, members, branding and balance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from resellctl.cli.options import MAX_LISTED, IdempotencyKey, Output, SignedArguments, limit_option
from resellctl.cli.output import Col, Format, emit
from resellctl.cli.state import state
from resellctl.operations import columns

app = typer.Typer(help="Manage resellers (partners).", no_args_is_help=True)
member_app = typer.Typer(help="Manage a reseller's members and their roles.",
                         no_args_is_help=True)
branding_app = typer.Typer(help="Show or change a reseller's white-label branding.",
                           no_args_is_help=True)
balance_app = typer.Typer(help="A reseller's balance and its ledger.", no_args_is_help=True)
app.add_typer(member_app, name="member")
app.add_typer(branding_app, name="branding")
app.add_typer(balance_app, name="balance")

TABLE = ["slug", "name", "is_active",
         Col("licenses", "Licences\nused/total", "ident",
             lambda r: f"{r['license_used']}/{r['license_count']}"),
         "balance_cents", Col("client_count", "Clients", "count")]
HISTORY = [Col("created_at", "At"), Col("kind", kind="ident"), "amount_cents",
           "balance_after_cents", "reference", Col("actor", optional=True)]
Slug = Annotated[str, typer.Argument(metavar="RESELLER", help="Reseller slug.")]



@app.command()
def create(
    ctx: typer.Context,
    slug: Annotated[str, typer.Option(help="Unique slug: lower-case letters, digits, hyphens.")],
    name: Annotated[str, typer.Option(help="Company name.")],
    owner: Annotated[str, typer.Option(help="Owner's e-mail (an existing user).")],
    licenses: Annotated[int, typer.Option(help="Licences granted at creation.")] = 0,
    inactive: Annotated[bool, typer.Option("--inactive", help="Create it inactive.")] = False,
    partner_supported: Annotated[bool, typer.Option(
        "--partner-supported", help="Eligible to support its own clients.")] = False,
    output: Output = Format.table,
) -> None:
    """Create a reseller (super admin); its owner becomes an admin member.

    \b
    Example: resellctl reseller create --slug acme --name "Acme IT" --owner ana@acme.example
    """
    emit(state(ctx).call("reseller.create", slug=slug, name=name, owner=owner, licenses=licenses,
                             inactive=inactive, partner_supported=partner_supported), output)


@app.command("list")
def list_(
    ctx: typer.Context,
    active: Annotated[bool | None, typer.Option("--active/--inactive",
                                                help="Only active or inactive ones.")] = None,
    output: Output = Format.table,
) -> None:
    """List the resellers you can see.

    \b
    Example: resellctl reseller list --active -o csv
    """
    emit(state(ctx).call("reseller.list", active=active), output, columns=columns("reseller.list"),
         table=TABLE)


@app.command()
def show(ctx: typer.Context, slug: Slug, output: Output = Format.table) -> None:
    """Show one reseller.

    \b
    Example: resellctl reseller show acme -o json
    """
    emit(state(ctx).call("reseller.show", slug=slug), output)


@app.command()
def edit(
    ctx: typer.Context,
    slug: Slug,
    name: Annotated[str | None, typer.Option(help="New company name.")] = None,
    owner: Annotated[str | None, typer.Option(help="New owner's e-mail.")] = None,
    partner_supported: Annotated[bool | None, typer.Option(
        "--partner-supported/--no-partner-supported", help="Partner-support eligibility.")
    ] = None,
    output: Output = Format.table,
) -> None:
    """Change a reseller's name, owner or partner-support eligibility (super admin).

    \b
    Example: resellctl reseller edit acme --partner-supported
    """
    emit(state(ctx).call("reseller.edit", slug=slug, name=name, owner=owner,
                           partner_supported=partner_supported), output)


@app.command()
def activate(ctx: typer.Context, slug: Slug, output: Output = Format.table) -> None:
    """Activate a reseller (super admin).

    \b
    Example: resellctl reseller activate acme
    """
    emit(state(ctx).call("reseller.activate", slug=slug), output)


@app.command()
def deactivate(ctx: typer.Context, slug: Slug, output: Output = Format.table) -> None:
    """Deactivate a reseller: it can create no client; existing ones keep working.

    \b
    Example: resellctl reseller deactivate acme
    """
    emit(state(ctx).call("reseller.deactivate", slug=slug), output)


# ---------------------------------------------------------------- members

@member_app.command("add")
def member_add(
    ctx: typer.Context,
    slug: Slug,
    email: str,
    role: Annotated[str, typer.Option(help="admin, support or viewer.")],
    output: Output = Format.table,
) -> None:
    """Add a user to a reseller with a role (reseller admin).

    \b
    Example: resellctl reseller member add acme bo@acme.example --role support
    """
    emit(state(ctx).call("reseller.member.add", slug=slug, email=email, role=role), output)


@member_app.command("remove")
def member_remove(ctx: typer.Context, slug: Slug, email: str,
                  output: Output = Format.table) -> None:
    """Remove a member (the owner stays).

    \b
    Example: resellctl reseller member remove acme bo@acme.example
    """
    emit(state(ctx).call("reseller.member.remove", slug=slug, email=email), output)


@member_app.command("list")
def member_list(ctx: typer.Context, slug: Slug, output: Output = Format.table) -> None:
    """List a reseller's members and roles.

    \b
    Example: resellctl reseller member list acme
    """
    emit(state(ctx).call("reseller.member.list", slug=slug), output,
         columns=columns("reseller.member.list"))


# ---------------------------------------------------------------- branding

@branding_app.command("show")
def branding_show(ctx: typer.Context, slug: Slug, output: Output = Format.table) -> None:
    """Show a reseller's branding.

    \b
    Example: resellctl reseller branding show acme
    """
    emit(state(ctx).call("reseller.branding.show", slug=slug), output)


@branding_app.command("set")
def branding_set(
    ctx: typer.Context,
    slug: Slug,
    logo_url: Annotated[str | None, typer.Option(help="https URL of the logo.")] = None,
    favicon_url: Annotated[str | None, typer.Option(help="https URL of the favicon.")] = None,
    login_background_url: Annotated[str | None, typer.Option(
        help="https URL of the login background.")] = None,
    primary_color: Annotated[str | None, typer.Option(help="#RRGGBB.")] = None,
    secondary_color: Annotated[str | None, typer.Option(help="#RRGGBB.")] = None,
    domain: Annotated[str | None, typer.Option(help="Host name, unique across resellers.")
                      ] = None,
    from_file: Annotated[Path | None, typer.Option(
        "--from-file", help="JSON object with any of the keys above (snake_case).",
        exists=False, dir_okay=False)] = None,
    output: Output = Format.table,
) -> None:
    """Set branding values; options override values from --from-file.

    \b
    Example: resellctl reseller branding set acme --primary-color "#0A84FF" --domain acme.example
    """
    values = _read_json(from_file) if from_file else {}
    given = {"logo_url": logo_url, "favicon_url": favicon_url,
             "login_background_url": login_background_url, "primary_color": primary_color,
             "secondary_color": secondary_color, "domain": domain}
    values.update({k: v for k, v in given.items() if v is not None})
    emit(state(ctx).call("reseller.branding.set", slug=slug, values=values), output)


def _read_json(path: Path) -> dict:
    from resellctl.domain.errors import Invalid

    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as exc:
        raise Invalid(f"file {path} not found", code="file_not_found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Invalid(f"{path} is not valid JSON: {exc}", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise Invalid(f"{path} must hold a JSON object", code="invalid_json")
    return data


@branding_app.command("clear")
def branding_clear(
    ctx: typer.Context,
    slug: Slug,
    keys: Annotated[list[str] | None, typer.Argument(
        metavar="[KEY]...", help="Keys to clear (default: all).")] = None,
    output: Output = Format.table,
) -> None:
    """Clear some or all branding values.

    \b
    Example: resellctl reseller branding clear acme logo_url domain
    """
    emit(state(ctx).call("reseller.branding.clear", slug=slug, keys=keys or []), output)


# ---------------------------------------------------------------- balance

Amount = Annotated[str, typer.Argument(metavar="AMOUNT",
                                       help="Decimal amount in the store currency, e.g. 99.95.")]


@balance_app.command("show")
def balance_show(ctx: typer.Context, slug: Slug, output: Output = Format.table) -> None:
    """Show a reseller's balance.

    \b
    Example: resellctl reseller balance show acme
    """
    emit(state(ctx).call("reseller.balance.show", slug=slug), output)


@balance_app.command("top-up", cls=SignedArguments)
def balance_top_up(
    ctx: typer.Context,
    slug: Slug,
    amount: Amount,
    reference: Annotated[str | None, typer.Option(help="Payment reference.")] = None,
    idempotency_key: IdempotencyKey = None,
    output: Output = Format.table,
) -> None:
    """Add funds to a reseller's balance (super admin).

    \b
    Example: resellctl reseller balance top-up acme 500 --idempotency-key INV-1042
    """
    from resellctl.domain import money

    cents = money.parse_amount(amount)
    _emit_money(state(ctx).call("reseller.balance.top-up", slug=slug, amount_cents=cents,
                                reference=reference, idempotency_key=idempotency_key),
                output)


@balance_app.command("adjust", cls=SignedArguments)
def balance_adjust(
    ctx: typer.Context,
    slug: Slug,
    amount: Amount,
    reason: Annotated[str, typer.Option(help="Why (kept in the ledger and audit).")],
    idempotency_key: IdempotencyKey = None,
    output: Output = Format.table,
) -> None:
    """Correct a balance by a signed amount (super admin); it never goes below zero.

    \b
    Example: resellctl reseller balance adjust acme -12.50 --reason "refund of duplicate fee"
    """
    from resellctl.domain import money

    cents = money.parse_amount(amount, allow_negative=True)
    _emit_money(state(ctx).call("reseller.balance.adjust", slug=slug, amount_cents=cents,
                                reason=reason, idempotency_key=idempotency_key),
                output)


def _emit_money(result: dict, output: Format) -> None:
    if output == Format.table:
        entry = result.pop("entry")
        result.update({f"entry_{k}": v for k, v in entry.items()
                       if k in ("id", "kind", "amount_cents")})
    emit(result, output)


@balance_app.command("history")
def balance_history(
    ctx: typer.Context,
    slug: Slug,
    since: Annotated[str | None, typer.Option(help="Only entries on or after DATE.")] = None,
    limit: Annotated[int | None, limit_option("At most N entries (default: all).",
                                              max=MAX_LISTED)] = None,
    output: Output = Format.table,
) -> None:
    """List ledger entries, newest first.

    \b
    Example: resellctl reseller balance history acme --since 2026-01-01
    """
    from resellctl.domain import clock

    emit(state(ctx).call("reseller.balance.history", slug=slug,
                         since=clock.parse_date(since, "--since") if since else None,
                         limit=limit),
         output, columns=columns("reseller.balance.history"), table=HISTORY)
