"""Idempotency keys for money-moving commands.

The key row is inserted first (INSERT ... ON CONFLICT DO NOTHING), so a concurrent
retry with the same key waits for the first transaction and then reads its result.
A failed request rolls back its key with everything else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from resellctl.domain import clock
from resellctl.domain.errors import Conflict, Invalid
from resellctl.store import tables

KEY = tables.idempotency_key


def _insert_ignore(conn: Connection):  # noqa: ANN202
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(KEY)


def request_hash(command: str, params: dict) -> str:
    canonical = json.dumps({"command": command, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def once(conn: Connection, key: str | None, command: str, params: dict,
         work: Callable[[], dict]) -> dict:
    """Run `work` once per key; a replay returns the first result (with `replayed: true`)."""
    if key is None:
        return work()
    if not key.strip() or len(key) > 200:
        raise Invalid("--idempotency-key must be 1 to 200 characters", code="invalid_key")
    digest = request_hash(command, params)
    claimed = conn.execute(
        _insert_ignore(conn).values(key=key, request_hash=digest, response={},
                                    created_at=clock.now())
        .on_conflict_do_nothing(index_elements=["key"]).returning(KEY.c.key)).first()
    if claimed is None:
        row = conn.execute(select(KEY).where(KEY.c.key == key)).one()
        if row.request_hash != digest:
            raise Conflict(f"idempotency key `{key}` was used for a different request",
                           code="idempotency_key_reused",
                           hint="use a new key for a new request")
        return {**row.response, "replayed": True}
    result = work()
    conn.execute(update(KEY).where(KEY.c.key == key).values(response=result))
    return {**result, "replayed": False}
