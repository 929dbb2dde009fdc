"""The price book: licence tiers and plans, loaded from a TOML catalog file."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from resellctl.domain import audit, clock, settings, validate
from resellctl.domain.access import load_actor, require_super_admin
from resellctl.domain.context import Ctx
from resellctl.domain.errors import Invalid, NotFound
from resellctl.domain.periods import INTERVALS
from resellctl.store import tables

TIER = tables.license_tier
PLAN = tables.plan


def _tiers(raw: Any, where: str) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        raise Invalid(f"{where} must be a non-empty list of {{min, unit_cents}}",
                      code="invalid_catalog")
    tiers = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"min", "unit_cents"}:
            raise Invalid(f"{where}: each tier needs exactly `min` and `unit_cents`",
                          code="invalid_catalog")
        low, cents = item["min"], item["unit_cents"]
        if (type(low) is not int or type(cents) is not int or not 1 <= low <= validate.MAX_COUNT
                or not 0 <= cents <= validate.MAX_CENTS):
            raise Invalid(f"{where}: `min` must be an integer from 1 to "
                          f"{validate.MAX_COUNT:,} and `unit_cents` one from 0 to "
                          f"{validate.MAX_CENTS:,}", code="invalid_catalog")
        tiers.append({"min": low, "unit_cents": cents})
    tiers.sort(key=lambda t: t["min"])
    if tiers[0]["min"] != 1 or len({t["min"] for t in tiers}) != len(tiers):
        raise Invalid(f"{where}: tiers must start at min = 1 and not repeat a min",
                      code="invalid_catalog")
    return tiers


def _plan(raw: Any, index: int) -> dict:
    where = f"plans[{index}]"
    if not isinstance(raw, dict):
        raise Invalid(f"{where} must be a table", code="invalid_catalog")
    unknown = set(raw) - {"code", "name", "custom", "prices"}
    if unknown:
        raise Invalid(f"{where}: unknown keys {sorted(unknown)}", code="invalid_catalog")
    code, name = raw.get("code"), raw.get("name")
    if not isinstance(code, str) or not code.strip() or len(code) > 64:
        raise Invalid(f"{where}: `code` must be a non-empty string", code="invalid_catalog")
    if not isinstance(name, str) or not name.strip():
        raise Invalid(f"{where}: `name` must be a non-empty string", code="invalid_catalog")
    custom = bool(raw.get("custom", False))
    prices_raw = raw.get("prices", {})
    if not isinstance(prices_raw, dict) or (not custom and not prices_raw):
        raise Invalid(f"{where} ({code}): give `prices` per interval or `custom = true`",
                      code="invalid_catalog")
    bad = set(prices_raw) - set(INTERVALS)
    if bad:
        raise Invalid(f"{where} ({code}): unknown intervals {sorted(bad)}; use "
                      + ", ".join(INTERVALS), code="invalid_catalog")
    prices = {k: _tiers(v, f"{where}.prices.{k}") for k, v in prices_raw.items()}
    return {"code": code.strip(), "name": name.strip(), "custom": custom, "prices": prices}


def parse(text: str) -> dict:
    """Validate a catalog file's text; returns {currency, license_tiers, plans}."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Invalid(f"catalog is not valid TOML: {exc}", code="invalid_catalog") from exc
    unknown = set(data) - {"currency", "license_tiers", "plans"}
    if unknown:
        raise Invalid(f"catalog: unknown keys {sorted(unknown)}", code="invalid_catalog")
    plans = [_plan(raw, i) for i, raw in enumerate(data.get("plans", []))]
    codes = [p["code"] for p in plans]
    if len(set(codes)) != len(codes):
        raise Invalid("catalog: plan codes must be unique", code="invalid_catalog")
    return {"currency": str(data.get("currency", "USD")).upper(),
            "license_tiers": _tiers(data.get("license_tiers"), "license_tiers"),
            "plans": plans}


def default_text() -> str:
    return resources.files("resellctl.domain").joinpath("default_catalog.toml").read_text()


def is_empty(conn: Connection) -> bool:
    return conn.execute(select(func.count()).select_from(TIER)).scalar_one() == 0


def store_catalog(conn: Connection, catalog: dict) -> dict:
    """Replace tiers and plans. Existing subscriptions keep their locked prices."""
    currency = settings.get(conn, "currency")
    if catalog["currency"] != currency:
        raise Invalid(f"catalog currency {catalog['currency']} differs from the store's "
                      f"{currency}", code="currency_mismatch",
                      hint="change the file, or `resellctl settings set currency` first")
    now = clock.now()
    conn.execute(delete(TIER))
    conn.execute(insert(TIER), [{"min_quantity": t["min"], "unit_cents": t["unit_cents"]}
                                for t in catalog["license_tiers"]])
    existing = set(conn.execute(select(PLAN.c.code)).scalars())
    for plan in catalog["plans"]:
        values = {"name": plan["name"], "custom": plan["custom"], "prices": plan["prices"],
                  "updated_at": now}
        if plan["code"] in existing:
            conn.execute(update(PLAN).where(PLAN.c.code == plan["code"]).values(**values))
        else:
            conn.execute(insert(PLAN).values(code=plan["code"], **values))
    removed = existing - {p["code"] for p in catalog["plans"]}
    if removed:
        conn.execute(delete(PLAN).where(PLAN.c.code.in_(removed)))
    return {"currency": currency, "license_tiers": len(catalog["license_tiers"]),
            "plans": len(catalog["plans"]), "removed_plans": sorted(removed)}


def load(ctx: Ctx, text: str, source: str) -> dict:
    catalog = parse(text)
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        require_super_admin(actor, "load the catalog")
        summary = store_catalog(conn, catalog)
        audit.record(conn, actor, "catalog.load", "catalog", "catalog",
                     extra={"source": source, **summary})
        return summary


def license_tiers(conn: Connection) -> list[dict]:
    rows = conn.execute(select(TIER).order_by(TIER.c.min_quantity)).all()
    if not rows:
        raise NotFound("the store has no catalog", code="no_catalog",
                       hint="run `resellctl subscription plans load FILE.toml`")
    return [{"min": r.min_quantity, "unit_cents": r.unit_cents} for r in rows]


def tier_for(tiers: list[dict], quantity: int) -> dict:
    """The tier with the largest `min` not above the quantity."""
    chosen = tiers[0]
    for tier in tiers:
        if tier["min"] <= quantity:
            chosen = tier
    return chosen


def plan_dict(row: Any) -> dict:
    return {"code": row.code, "name": row.name, "custom": row.custom,
            "intervals": [i for i in INTERVALS if i in (row.prices or {})],
            "prices": row.prices or {}}


def list_plans(ctx: Ctx) -> list[dict]:
    with ctx.store.read() as conn:
        load_actor(conn, ctx.actor)
        return [plan_dict(r) for r in conn.execute(select(PLAN).order_by(PLAN.c.code))]


def show_plan(ctx: Ctx, code: str) -> dict:
    with ctx.store.read() as conn:
        load_actor(conn, ctx.actor)
        row = conn.execute(select(PLAN).where(PLAN.c.code == code)).first()
        if row is None:
            raise NotFound(f"plan `{code}` not found", code="plan_not_found",
                           hint="run `resellctl subscription plans list`")
        return {**plan_dict(row), "license_tiers": license_tiers(conn)}
