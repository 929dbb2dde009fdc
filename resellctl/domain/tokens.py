"""Secret link tokens (approvals, support sessions): shown once, stored as SHA-256.

A token is 32 random bytes from `secrets`, URL-safe base64 without padding (43
characters), drawn again when it would begin with `-`: a command line would
read such a token as an option (`approval reject -0…` → "No such option").
Only its SHA-256 is stored; a presented token is found by hashing it and
looking the hash up (an indexed equality), never by comparing tokens.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from resellctl.domain.errors import NotFound

TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}\Z")


def new_token() -> tuple[str, str]:
    """A fresh token and its hash."""
    token = secrets.token_urlsafe(32)
    while token.startswith("-"):
        token = secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def from_link(text: str, what: str) -> str:
    """The hash of the token in `text`: the token itself or the whole URL ending in it.
    Anything that is not a well-formed token is an unknown link (exit 3)."""
    raw = (text or "").strip()
    if "/" in raw:
        raw = urlsplit(raw).path.rstrip("/").rpartition("/")[2]
    if not TOKEN.match(raw):
        raise unknown(what)
    return digest(raw)


def unknown(what: str) -> NotFound:
    return NotFound(f"unknown {what} link", code=f"{what.replace(' ', '_')}_not_found",
                    hint="check that the whole link was copied; it may have been mistyped")


def find(conn: Any, query: Any, hash_column: Any, text: str, what: str) -> Any:
    """The row `query` gives for the link in `text` (its token's hash in `hash_column`),
    or the unknown-link NotFound."""
    row = conn.execute(query.where(hash_column == from_link(text, what))).first()
    if row is None:
        raise unknown(what)
    return row


def link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/{token}"


_last = [0, 0]


def new_id(prefix: str) -> str:
    """Time-ordered id: `prefix_` and 17 hex digits (ms clock and a random tail). The
    tail starts below 2**23 and counts up within one millisecond: over 8 million ids
    before it could outgrow its 6 digits (and sort before the ids just made)."""
    now_ms = time.time_ns() // 1_000_000
    tail = secrets.randbits(23) if now_ms > _last[0] else _last[1] + 1
    _last[0], _last[1] = max(now_ms, _last[0]), tail
    return f"{prefix}_{_last[0]:011x}{tail:06x}"
