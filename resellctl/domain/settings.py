"""Store-wide settings, shared by everyone using the store. Unknown keys are refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from resellctl.domain import audit, clock, durations, validate
from resellctl.domain.access import load_actor, require_super_admin
from resellctl.domain.context import Ctx
from resellctl.domain.errors import Invalid
from resellctl.store import tables
from resellctl.store.engine import Store

SETTING = tables.setting


def _trial_days(text: str) -> str:
    if not (text.strip().isascii() and text.strip().isdigit()) or not 1 <= int(text) <= 365:
        raise Invalid(f"trial_days `{text}` must be a whole number from 1 to 365",
                      code="invalid_setting")
    return str(int(text))


def _duration(key: str) -> Callable[[str], str]:
    return lambda text: durations.render(durations.parse(text, key))


def _currency(text: str) -> str:
    if len(text.strip()) != 3 or not (text.strip().isascii() and text.strip().isalpha()):
        raise Invalid(f"currency `{text}` must be a three-letter ISO 4217 code",
                      code="invalid_setting")
    return text.strip().upper()


def _base_url(key: str) -> Callable[[str], str]:
    return lambda text: validate.https_url(text, key, loopback_http=True).rstrip("/")


# key -> (default, validator that returns the canonical text)
SETTINGS: dict[str, tuple[str, Callable[[str], str]]] = {
    "trial_days": ("21", _trial_days),
    # unset: the pages of a local `resellctl serve` (CLI.md); production sets its address
    "approval_base_url": ("http://127.0.0.1:8600/approve", _base_url("approval_base_url")),
    "support_base_url": ("http://127.0.0.1:8600/support", _base_url("support_base_url")),
    "approval_ttl": ("7d", _duration("approval_ttl")),
    "support_session_max_ttl": ("8h", _duration("support_session_max_ttl")),
    "currency": ("USD", _currency),
}


def read_all(conn: Connection) -> dict[str, str]:
    stored = dict(conn.execute(select(SETTING.c.key, SETTING.c.value)).all())
    return {key: stored.get(key, default) for key, (default, _) in SETTINGS.items()}


_VALUE = select(SETTING.c.value).where(SETTING.c.key == bindparam("key"))  # built once


def get(conn: Connection, key: str) -> str:
    value = conn.execute(_VALUE, {"key": key}).scalar()
    return value if value is not None else SETTINGS[key][0]


def currency(store: Store) -> str:
    """The store's currency (amounts that carry none of their own are in it)."""
    with store.read() as conn:
        return get(conn, "currency")


def typed(values: dict[str, str]) -> dict[str, Any]:
    return {k: int(v) if k == "trial_days" else v for k, v in values.items()}


def show(ctx: Ctx) -> dict[str, Any]:
    with ctx.store.read() as conn:
        load_actor(conn, ctx.actor)
        return typed(read_all(conn))


def set_value(ctx: Ctx, key: str, value: str) -> dict[str, Any]:
    if key not in SETTINGS:
        raise Invalid(f"unknown setting `{key}`", code="unknown_setting",
                      hint="keys: " + ", ".join(SETTINGS))
    canonical = SETTINGS[key][1](value)
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        require_super_admin(actor, "change settings")
        before = get(conn, key)
        write(conn, key, canonical)
        audit.record(conn, actor, "settings.set", "setting", key,
                     before={key: before}, after={key: canonical})
        return typed(read_all(conn))


def write(conn: Connection, key: str, value: str) -> None:
    now = clock.now()
    done = conn.execute(update(SETTING).where(SETTING.c.key == key)
                        .values(value=value, updated_at=now)).rowcount
    if not done:
        conn.execute(insert(SETTING).values(key=key, value=value, updated_at=now))
