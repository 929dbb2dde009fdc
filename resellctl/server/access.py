"""Pure ASGI middleware: the JSON access log, and the request body limit.

The access log is one JSON line per request on stderr: time, method, path (no query
string; the token of a page path written `{token}`), status, duration_ms and actor (the
token's user, or null). Never a token, a query string or a body.
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

MAX_BODY = 64 * 1024 * 1024
STREAMED = {("POST", "/v1/clients/import")}  # bodies read as a stream, of any size
PAGE = re.compile(r"^/(approve|support|branding)/[^/]+")

Scope = dict[str, Any]


def logged_path(path: str) -> str:
    return PAGE.sub(r"/\1/{token}", path)  # /branding/{token} too: its .css holds the token


class AccessLog:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = [500]

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            state = scope.get("state") or {}
            line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z"),
                    "method": scope["method"], "path": logged_path(scope["path"]),
                    "status": status[0],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "actor": state.get("actor")}
            try:
                sys.stderr.write(json.dumps(line, ensure_ascii=False) + "\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass


class BodyLimit:
    """413 for a body over 64 MiB (by Content-Length, or as a chunked body grows)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) in STREAMED:
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            return await _too_large(send)
        seen, over, answered = [0], [False], [False]

        async def receiving() -> dict:
            message = await receive()
            seen[0] += len(message.get("body", b""))
            if seen[0] > MAX_BODY:
                over[0] = True
                raise TooLarge
            return message

        async def sending(message: dict) -> None:
            # FastAPI answers a body it could not read with a 400 of its own: once the
            # limit was crossed, whatever the app answers becomes the 413.
            if not over[0]:
                return await send(message)
            if not answered[0]:
                answered[0] = True
                await _too_large(send)

        try:
            await self.app(scope, receiving, sending)
        except TooLarge:
            if not answered[0]:
                answered[0] = True
                await _too_large(send)


class TooLarge(Exception):
    pass


async def _too_large(send: Any) -> None:
    body = json.dumps({"error": {"code": "body_too_large",
                                 "message": "the request body is over 64 MiB",
                                 "exit_code": 5}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
