"""Resellers: the partner companies, their members, branding and balance."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from resellctl.domain import audit, clock, idempotency, ledger, settings, validate
from resellctl.domain.access import (
    MEMBERSHIP,
    RESELLER,
    ROLE_RANK,
    USER,
    Actor,
    load_actor,
    normalise_email,
    require_role,
    require_super_admin,
    reseller_row,
    visible_reseller_ids,
)
from resellctl.domain.context import Ctx
from resellctl.domain.errors import Conflict, Invalid, NotFound, UsageError
from resellctl.store import tables

CLIENT = tables.client
BRANDING_URLS = ("logo_url", "favicon_url", "login_background_url")
BRANDING_COLOURS = ("primary_color", "secondary_color")
BRANDING_KEYS = (*BRANDING_URLS, *BRANDING_COLOURS, "domain")


# ---------------------------------------------------------------- reading

def _client_counts():  # noqa: ANN202
    return (select(CLIENT.c.reseller_id, func.count().label("n"))
            .where(CLIENT.c.deleted_at.is_(None), CLIENT.c.reseller_id.is_not(None))
            .group_by(CLIENT.c.reseller_id).subquery())


def _select():  # noqa: ANN202
    counts = _client_counts()
    return (select(RESELLER, USER.c.email.label("owner_email"),
                   func.coalesce(counts.c.n, 0).label("client_count"))
            .select_from(RESELLER.join(USER, USER.c.id == RESELLER.c.owner_id)
                         .outerjoin(counts, counts.c.reseller_id == RESELLER.c.id)))


def reseller_dict(row: Any, currency: str) -> dict:
    return {"slug": row.slug, "name": row.name, "owner_email": row.owner_email,
            "is_active": row.is_active, "partner_supported": row.partner_supported,
            "license_count": row.license_count, "license_used": row.license_used,
            "license_available": row.license_count - row.license_used,
            "balance_cents": row.balance_cents, "currency": currency,
            "client_count": row.client_count, "created_at": clock.iso(row.created_at)}


def _read(conn: Connection, reseller_id: int) -> dict:
    row = conn.execute(_select().where(RESELLER.c.id == reseller_id)).one()
    return reseller_dict(row, settings.get(conn, "currency"))


def list_resellers(ctx: Ctx, active: bool | None = None) -> list[dict]:
    with ctx.store.read() as conn:
        actor = load_actor(conn, ctx.actor)
        query = _select().order_by(RESELLER.c.slug)
        visible = visible_reseller_ids(actor)
        if visible is not None:
            query = query.where(RESELLER.c.id.in_(visible))
        if active is not None:
            query = query.where(RESELLER.c.is_active.is_(active))
        currency = settings.get(conn, "currency")
        return [reseller_dict(row, currency) for row in conn.execute(query)]


def show(ctx: Ctx, slug: str) -> dict:
    with ctx.store.read() as conn:
        return _read(conn, reseller_row(conn, load_actor(conn, ctx.actor), slug).id)


# ---------------------------------------------------------------- writing

def _user_id(conn: Connection, email: str, role: str = "owner") -> int:
    user_id = conn.execute(select(USER.c.id)
                           .where(USER.c.email == normalise_email(email))).scalar()
    if user_id is None:
        raise NotFound(f"{role} `{email}` is not a user", code="user_not_found",
                       hint=f"create it first with `resellctl user create {email}`")
    return user_id


def _ensure_admin(conn: Connection, user_id: int, reseller_id: int) -> None:
    done = conn.execute(update(MEMBERSHIP).where(MEMBERSHIP.c.user_id == user_id,
                                                 MEMBERSHIP.c.reseller_id == reseller_id)
                        .values(role="admin")).rowcount
    if not done:
        conn.execute(insert(MEMBERSHIP).values(user_id=user_id, reseller_id=reseller_id,
                                               role="admin", created_at=clock.now()))


def create(ctx: Ctx, slug: str, name: str, owner: str, *, licenses: int = 0,
           inactive: bool = False, partner_supported: bool = False) -> dict:
    slug = validate.slug(slug)
    name = validate.name(name)
    if licenses:
        validate.count(validate.non_negative(licenses, "--licenses"), "--licenses")
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        require_super_admin(actor, "create resellers")
        owner_id = _user_id(conn, owner)
        if conn.execute(select(RESELLER.c.id).where(RESELLER.c.slug == slug)).first():
            raise Conflict(f"reseller `{slug}` already exists", code="reseller_exists")
        now = clock.now()
        reseller_id = conn.execute(insert(RESELLER).values(
            slug=slug, name=name, owner_id=owner_id, is_active=not inactive,
            partner_supported=partner_supported, license_count=licenses, license_used=0,
            balance_cents=0, branding={}, created_at=now, updated_at=now)
        ).inserted_primary_key[0]
        _ensure_admin(conn, owner_id, reseller_id)
        result = _read(conn, reseller_id)
        audit.record(conn, actor, "reseller.create", "reseller", slug, reseller_id=reseller_id,
                     after={k: result[k] for k in ("slug", "name", "owner_email", "is_active",
                                                   "partner_supported", "license_count")})
        return result


def edit(ctx: Ctx, slug: str, *, name: str | None = None, owner: str | None = None,
         partner_supported: bool | None = None) -> dict:
    if name is None and owner is None and partner_supported is None:
        raise UsageError("nothing to change: give --name, --owner or --partner-supported/"
                         "--no-partner-supported", code="nothing_to_change",
                         hint="see `resellctl reseller edit --help`")
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        require_super_admin(actor, "edit resellers")
        row = reseller_row(conn, actor, slug, for_update=True)
        before = _read(conn, row.id)
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = validate.name(name)
        if owner is not None:
            values["owner_id"] = _user_id(conn, owner)
            _ensure_admin(conn, values["owner_id"], row.id)
        if partner_supported is False and row.partner_supported:
            _refuse_if_partner_clients(conn, row)
        if partner_supported is not None:
            values["partner_supported"] = partner_supported
        if values:
            conn.execute(update(RESELLER).where(RESELLER.c.id == row.id)
                         .values(**values, updated_at=clock.now()))
        after = _read(conn, row.id)
        audit.record(conn, actor, "reseller.edit", "reseller", slug, reseller_id=row.id,
                     before=before, after=after)
        return after


def _refuse_if_partner_clients(conn: Connection, row: Any) -> None:
    count = conn.execute(select(func.count()).select_from(CLIENT).where(
        CLIENT.c.reseller_id == row.id, CLIENT.c.support_type == "partner",
        CLIENT.c.deleted_at.is_(None))).scalar_one()
    if count:
        raise Conflict(f"reseller `{row.slug}` has {count} partner-supported clients",
                       code="partner_clients_exist",
                       hint="move them to --support-type vendor first")


def set_active(ctx: Ctx, slug: str, active: bool) -> dict:
    """Activate or deactivate; doing it twice is a no-op (no second audit event)."""
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        require_super_admin(actor, "activate or deactivate resellers")
        row = reseller_row(conn, actor, slug, for_update=True)
        if row.is_active != active:
            conn.execute(update(RESELLER).where(RESELLER.c.id == row.id)
                         .values(is_active=active, updated_at=clock.now()))
            verb = "activate" if active else "deactivate"
            audit.record(conn, actor, f"reseller.{verb}", "reseller", slug, reseller_id=row.id,
                         before={"is_active": row.is_active}, after={"is_active": active})
        return _read(conn, row.id)


# ---------------------------------------------------------------- members

def _member_rows(conn: Connection, reseller_id: int, owner_id: int) -> list[dict]:
    rows = conn.execute(select(USER.c.id, USER.c.email, USER.c.name, MEMBERSHIP.c.role,
                               MEMBERSHIP.c.created_at)
                        .join(MEMBERSHIP, MEMBERSHIP.c.user_id == USER.c.id)
                        .where(MEMBERSHIP.c.reseller_id == reseller_id)
                        .order_by(USER.c.email))
    return [{"email": r.email, "name": r.name, "role": r.role, "is_owner": r.id == owner_id,
             "added_at": clock.iso(r.created_at)} for r in rows]


def members(ctx: Ctx, slug: str) -> list[dict]:
    with ctx.store.read() as conn:
        row = reseller_row(conn, load_actor(conn, ctx.actor), slug)
        return _member_rows(conn, row.id, row.owner_id)


def member_add(ctx: Ctx, slug: str, email: str, role: str) -> dict:
    if role not in ROLE_RANK:
        raise Invalid(f"role `{role}` is not one of admin, support, viewer", code="invalid_role")
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        row = reseller_row(conn, actor, slug)
        require_role(actor, row.id, "admin", "manage members")
        user_id = _user_id(conn, email, "member")
        existing = conn.execute(select(MEMBERSHIP.c.role).where(
            MEMBERSHIP.c.user_id == user_id, MEMBERSHIP.c.reseller_id == row.id)).scalar()
        if existing is not None:
            raise Conflict(f"`{email}` is already a member of `{slug}` ({existing})",
                           code="member_exists",
                           hint="remove the member first to change the role")
        conn.execute(insert(MEMBERSHIP).values(user_id=user_id, reseller_id=row.id, role=role,
                                               created_at=clock.now()))
        audit.record(conn, actor, "reseller.member_add", "reseller", slug, reseller_id=row.id,
                     after={"email": normalise_email(email), "role": role})
        return next(m for m in _member_rows(conn, row.id, row.owner_id)
                    if m["email"] == normalise_email(email))


def member_remove(ctx: Ctx, slug: str, email: str) -> dict:
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        row = reseller_row(conn, actor, slug)
        require_role(actor, row.id, "admin", "manage members")
        user_id = _user_id(conn, email, "member")
        if user_id == row.owner_id:
            raise Conflict(f"`{email}` owns `{slug}` and stays an admin",
                           code="owner_membership",
                           hint=f"change the owner first with `resellctl reseller edit {slug} "
                                "--owner EMAIL`")
        role = conn.execute(select(MEMBERSHIP.c.role).where(
            MEMBERSHIP.c.user_id == user_id, MEMBERSHIP.c.reseller_id == row.id)).scalar()
        if role is None:
            raise NotFound(f"`{email}` is not a member of `{slug}`", code="member_not_found")
        conn.execute(delete(MEMBERSHIP).where(MEMBERSHIP.c.user_id == user_id,
                                              MEMBERSHIP.c.reseller_id == row.id))
        audit.record(conn, actor, "reseller.member_remove", "reseller", slug,
                     reseller_id=row.id, before={"email": normalise_email(email), "role": role})
        return {"reseller": slug, "email": normalise_email(email), "role": role,
                "removed": True}


# ---------------------------------------------------------------- branding

def _branding(row: Any) -> dict:
    data = {key: (row.branding or {}).get(key) for key in BRANDING_KEYS}
    data["domain"] = row.domain
    return {"reseller": row.slug, **data}


def validate_branding(values: dict[str, Any]) -> dict[str, str]:
    """Check keys and values; unknown keys are refused by name."""
    unknown = sorted(set(values) - set(BRANDING_KEYS))
    if unknown:
        raise Invalid(f"unknown branding keys: {', '.join(unknown)}", code="invalid_branding",
                      hint="allowed: " + ", ".join(BRANDING_KEYS))
    clean: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(value, str):
            raise Invalid(f"branding `{key}` must be a string", code="invalid_branding")
        if key in BRANDING_URLS:
            clean[key] = validate.https_url(value, key)
        elif key in BRANDING_COLOURS:
            clean[key] = validate.colour(value, key)
        else:
            clean[key] = validate.host(value)
    return clean


def branding_show(ctx: Ctx, slug: str) -> dict:
    with ctx.store.read() as conn:
        return _branding(reseller_row(conn, load_actor(conn, ctx.actor), slug))


def branding_set(ctx: Ctx, slug: str, values: dict[str, Any]) -> dict:
    clean = validate_branding(values)
    if not clean:
        raise Invalid("nothing to set", code="invalid_branding",
                      hint="pass options such as --primary-color or --from-file")
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        row = reseller_row(conn, actor, slug, for_update=True)
        require_role(actor, row.id, "admin", "change branding")
        return _write_branding(conn, actor, row, clean, {}, "reseller.branding_set")


def branding_clear(ctx: Ctx, slug: str, keys: list[str]) -> dict:
    unknown = sorted(set(keys) - set(BRANDING_KEYS))
    if unknown:
        raise Invalid(f"unknown branding keys: {', '.join(unknown)}", code="invalid_branding",
                      hint="allowed: " + ", ".join(BRANDING_KEYS))
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        row = reseller_row(conn, actor, slug, for_update=True)
        require_role(actor, row.id, "admin", "change branding")
        return _write_branding(conn, actor, row, {}, set(keys or BRANDING_KEYS),
                               "reseller.branding_clear")


def _write_branding(conn: Connection, actor: Actor, row: Any, values: dict[str, str],
                    cleared: set[str], action: str) -> dict:
    before = _branding(row)
    branding = {k: v for k, v in (row.branding or {}).items() if k not in cleared}
    branding.update({k: v for k, v in values.items() if k != "domain"})
    domain = values.get("domain", None if "domain" in cleared else row.domain)
    if domain and domain != row.domain and conn.execute(
            select(RESELLER.c.slug).where(RESELLER.c.domain == domain)).first():
        raise Conflict(f"domain `{domain}` is already used by another reseller",
                       code="domain_taken")
    conn.execute(update(RESELLER).where(RESELLER.c.id == row.id)
                 .values(branding=branding, domain=domain, updated_at=clock.now()))
    after = _branding(conn.execute(select(RESELLER).where(RESELLER.c.id == row.id)).one())
    audit.record(conn, actor, action, "reseller", row.slug, reseller_id=row.id,
                 before=before, after=after)
    return after


# ---------------------------------------------------------------- balance

def _balance(conn: Connection, row: Any) -> dict:
    balance = conn.execute(select(RESELLER.c.balance_cents)
                           .where(RESELLER.c.id == row.id)).scalar_one()
    return {"reseller": row.slug, "balance_cents": balance,
            "currency": settings.get(conn, "currency")}


def balance_show(ctx: Ctx, slug: str) -> dict:
    with ctx.store.read() as conn:
        return _balance(conn, reseller_row(conn, load_actor(conn, ctx.actor), slug))


def _move(ctx: Ctx, slug: str, kind: str, amount_cents: int, reference: str | None,
          key: str | None) -> dict:
    action = "balance.top_up" if kind == "top_up" else "balance.adjust"
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        require_super_admin(actor, "move money on a balance")
        row = reseller_row(conn, actor, slug)

        def work() -> dict:
            entry = ledger.post(conn, row.id, kind, amount_cents, actor.email,
                                reference=reference)
            audit.record(conn, actor, action, "reseller", slug, reseller_id=row.id,
                         before={"balance_cents": entry["balance_after_cents"] - amount_cents},
                         after={"balance_cents": entry["balance_after_cents"]},
                         extra={"amount_cents": amount_cents, "reference": reference})
            return {**_balance(conn, row), "entry": entry}

        params = {"reseller": slug, "amount_cents": amount_cents, "reference": reference}
        return idempotency.once(conn, key, action, params, work)


def top_up(ctx: Ctx, slug: str, amount_cents: int, reference: str | None = None,
           idempotency_key: str | None = None) -> dict:
    if amount_cents <= 0:
        raise Invalid("a top-up must be positive", code="invalid_amount")
    validate.amount(amount_cents, "the amount")
    return _move(ctx, slug, "top_up", amount_cents, reference, idempotency_key)


def adjust(ctx: Ctx, slug: str, amount_cents: int, reason: str,
           idempotency_key: str | None = None) -> dict:
    reason = validate.optional_text(reason, "--reason", 500) or ""
    if not reason:
        raise Invalid("an adjustment needs a --reason", code="reason_required")
    validate.amount(amount_cents, "the amount")
    return _move(ctx, slug, "adjustment", amount_cents, reason, idempotency_key)


def balance_history(ctx: Ctx, slug: str, since: date | None = None,
                    limit: int | None = None) -> list[dict]:
    with ctx.store.read() as conn:
        row = reseller_row(conn, load_actor(conn, ctx.actor), slug)
        return ledger.history(conn, row.id, since=since, limit=limit)


PAGE_COLUMNS = (RESELLER.c.name.label("reseller_name"), RESELLER.c.branding)


def page_view(row: Any) -> dict:
    """What a link's page shows of its reseller (a row with PAGE_COLUMNS): its name, and
    the logo and two colours of its branding, when set."""
    values = row.branding or {}
    return {"reseller_name": row.reseller_name,
            "branding": {key: values.get(key)
                         for key in ("logo_url", "primary_color", "secondary_color")}}
