"""API tokens for `serve` (HTTP.md): `rsl_` + 32 random bytes, shown once, kept as SHA-256.

A request presents the token; `authenticate` hashes it and looks the hash up (an
indexed equality). The user and its memberships are read by the service on every
request (`load_actor`), never carried in the token, so a removed membership or a
lower role takes effect at once.
"""

from __future__ import annotations

import secrets
import weakref
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update

from resellctl.domain import audit, clock, durations, tokens, validate
from resellctl.domain.access import USER, Actor, load_actor, normalise_email
from resellctl.domain.context import Ctx
from resellctl.domain.errors import Denied, Invalid, NotFound, Unauthenticated
from resellctl.store import tables
from resellctl.store.engine import Store

TOKEN = tables.api_token
PREFIX = "rsl_"
DEFAULT_TTL = "90d"
MAX_TTL = timedelta(days=365)
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at: a read must not write on every request
UNAUTHORIZED = "missing, invalid, expired or revoked API token"


def token_dict(row: Any, email: str, now: datetime) -> dict:
    return {"id": row.id, "name": row.name, "user": email,
            "created_at": clock.iso(row.created_at),
            "last_used_at": clock.iso(row.last_used_at) if row.last_used_at else None,
            "expires_at": clock.iso(row.expires_at) if row.expires_at else None,
            "revoked_at": clock.iso(row.revoked_at) if row.revoked_at else None,
            "status": _status(row, now)}


def _status(row: Any, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


def _owner(conn: Any, actor: Actor, email: str | None) -> Any:
    """The user a token is for: the actor itself, or (super admin) `--user`."""
    if email is None or normalise_email(email) == actor.email:
        return conn.execute(select(USER).where(USER.c.id == actor.id)).one()
    if not actor.is_super_admin:
        raise Denied("only a super admin can manage another user's tokens",
                     code="super_admin_only")
    row = conn.execute(select(USER).where(USER.c.email == normalise_email(email))).first()
    if row is None:
        raise NotFound(f"user `{email}` not found", code="user_not_found",
                       hint="run `resellctl user list`")
    return row


def _lifetime(actor: Actor, expires_in: str | None) -> timedelta | None:
    text = (expires_in or DEFAULT_TTL).strip()
    if text == "never":
        if not actor.is_super_admin:
            raise Denied("only a super admin can create a token that never expires",
                         code="super_admin_only", hint="use --expires-in 365d at most")
        return None
    length = durations.parse(text, "--expires-in")
    if length > MAX_TTL:
        raise Invalid(f"--expires-in {text} is longer than 365d", code="ttl_too_long",
                      hint="use at most --expires-in 365d (or `never`, super admins only)")
    return length


def create(ctx: Ctx, name: str | None = None, expires_in: str | None = None,
           user: str | None = None) -> dict:
    """A new token for the actor (or, super admin, for `user`); the token is in the result
    and nowhere else."""
    name = validate.optional_text(name, "--name", 200)
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        owner = _owner(conn, actor, user)
        length = _lifetime(actor, expires_in)
        now = clock.now()
        token = PREFIX + secrets.token_urlsafe(32)
        token_id = tokens.new_id("tok")
        values = {"id": token_id, "user_id": owner.id, "name": name,
                  "token_hash": tokens.digest(token), "created_by": actor.email,
                  "created_at": now, "expires_at": now + length if length else None}
        conn.execute(insert(TOKEN).values(**values))
        row = conn.execute(select(TOKEN).where(TOKEN.c.id == token_id)).one()
        shown = token_dict(row, owner.email, now)
        audit.record(conn, actor, "token.create", "api_token", token_id,
                     after={k: shown[k] for k in ("name", "user", "expires_at")})
        return {"id": token_id, "name": name, "user": owner.email, "token": token,
                "created_at": shown["created_at"], "expires_at": shown["expires_at"]}


def list_tokens(ctx: Ctx, user: str | None = None) -> list[dict]:
    """The actor's tokens; a super admin sees every user's (or `user`'s)."""
    with ctx.store.read() as conn:
        actor = load_actor(conn, ctx.actor)
        query = (select(TOKEN, USER.c.email).join(USER, USER.c.id == TOKEN.c.user_id)
                 .order_by(TOKEN.c.created_at, TOKEN.c.id))
        if user is not None or not actor.is_super_admin:
            query = query.where(TOKEN.c.user_id == _owner(conn, actor, user).id)
        now = clock.now()
        return [token_dict(row, row.email, now) for row in conn.execute(query)]


def revoke(ctx: Ctx, token_id: str) -> dict:
    """Revoke a token at once (its next request is a 401). Revoking twice changes nothing."""
    with ctx.store.write() as conn:
        actor = load_actor(conn, ctx.actor)
        query = (select(TOKEN, USER.c.email).join(USER, USER.c.id == TOKEN.c.user_id)
                 .where(TOKEN.c.id == token_id))
        row = conn.execute(query).first()
        if row is None or (row.user_id != actor.id and not actor.is_super_admin):
            raise NotFound(f"token `{token_id}` not found", code="token_not_found",
                           hint="run `resellctl token list`")
        now = clock.now()
        if row.revoked_at is None:
            conn.execute(update(TOKEN).where(TOKEN.c.id == token_id).values(revoked_at=now))
            audit.record(conn, actor, "token.revoke", "api_token", token_id,
                         before={"status": _status(row, now)}, after={"status": "revoked"})
            row = conn.execute(query).one()
        return token_dict(row, row.email, now)


# Built once, with the digest as a parameter: building the statement per request cost
# more than running it.
_BY_HASH = (select(TOKEN.c.id, TOKEN.c.expires_at, TOKEN.c.revoked_at, TOKEN.c.last_used_at,
                   USER.c.email)
            .join(USER, USER.c.id == TOKEN.c.user_id)
            .where(TOKEN.c.token_hash == bindparam("digest")))


def authenticate(store: Store, presented: str | None) -> str:
    """The e-mail of the user a token acts as; one Unauthenticated for every bad token."""
    email, stale = identify(store, presented)
    if stale is not None:
        touch(store, stale)
    return email


def identify(store: Store, presented: str | None) -> tuple[str, str | None]:
    """`authenticate` without its write: the e-mail, and the token's id when its
    `last_used_at` is due (then `touch` it), else None. One read, never a lock wait."""
    if not presented or not validate.api_token(presented):
        raise Unauthenticated(UNAUTHORIZED, hint="create one with `resellctl token create`")
    digest = tokens.digest(presented)
    now = clock.now()
    row = _lookup(store, digest)
    if row is None or row.revoked_at is not None or (
            row.expires_at is not None and row.expires_at <= now):
        raise Unauthenticated(UNAUTHORIZED, hint="create one with `resellctl token create`")
    due = row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY
    return row.email, row.id if due else None


_QUERIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Store -> _Query


def _lookup(store: Store, digest: str) -> Any:
    """The token's row (id, expires_at, revoked_at, last_used_at, email), or None. The
    first lookup of a Store runs through SQLAlchemy in a transaction (which also checks
    the schema); the next ones run the same SELECT, compiled once, straight through the
    driver on a pooled connection: SQLAlchemy's execution and a transaction's BEGIN and
    COMMIT cost several times the query (one SELECT is atomic on both stores)."""
    query = _QUERIES.get(store)
    if query is None:
        with store.read() as conn:
            row = conn.execute(_BY_HASH, {"digest": digest}).first()
        _QUERIES[store] = _Query(store.engine.dialect)
        return row
    return query.run(store, digest)


class _Query:
    """_BY_HASH compiled for one dialect, with its columns' result processors (SQLite
    keeps instants as text: UTCDateTime turns them into aware datetimes)."""

    def __init__(self, dialect: Any) -> None:
        compiled = _BY_HASH.compile(dialect=dialect)
        self.sql = str(compiled)
        self.order = compiled.positiontup if compiled.positional else None
        columns = list(_BY_HASH.selected_columns)
        self.names = [column.key for column in columns]
        self.processors = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                           for column in columns]

    def run(self, store: Store, digest: str) -> Any:
        from resellctl.store.engine import translate_errors

        params = {"digest": digest}
        args = tuple(params[name] for name in self.order) if self.order else params
        with translate_errors(store.url):
            conn = store.engine.raw_connection()
            driver = conn.driver_connection
            # psycopg: no BEGIN and ROLLBACK round trips around the one SELECT (SQLite's
            # connections are in autocommit mode already: the store sends its own BEGIN)
            autocommit, done = store.dialect == "postgresql", False
            try:
                if autocommit:
                    driver.autocommit = True
                cursor = conn.cursor()
                cursor.execute(self.sql, args)
                raw = cursor.fetchone()
                cursor.close()
                if autocommit:
                    driver.autocommit = False
                done = True
            finally:
                if not done:  # a connection that failed half-way is not reused
                    conn.invalidate()
                conn.close()  # back to the pool
        if raw is None:
            return None
        return SimpleNamespace(**{name: process(value) if process else value
                                  for name, process, value in zip(
                                      self.names, self.processors, raw, strict=True)})


def touch(store: Store, token_id: str) -> None:
    _touch(store, token_id, clock.now())


def _touch(store: Store, token_id: str, now: datetime) -> None:
    """Record the use; many workers may race here, and only one row changes a minute."""
    with store.write() as conn:
        conn.execute(update(TOKEN).where(
            TOKEN.c.id == token_id,
            or_(TOKEN.c.last_used_at.is_(None), TOKEN.c.last_used_at <= now - TOUCH_EVERY))
            .values(last_used_at=now))
