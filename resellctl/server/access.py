"""Pure ASGI middleware: the JSON access log, and the request body limit.

The access log is one JSON line per request on stderr: time, method, path (no query
string; the token of a page path written `{token}`), status, duration_ms and actor (the
token's user, or null). Never a token, a query string or a body.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any

MAX_BODY = 64 * 1024 * 1024
STREAMED = {("POST", "/v1/clients/import")}  # bodies read as a stream, of any size
PAGE = re.compile(r"^/+(approve|support|branding)/+[^/]*")
# A token pasted anywhere else in a path (`/v1/tokens/rsl_…/revoke`): link tokens are 43
# base64url characters, API tokens `rsl_` and 43 more; no id or slug has that shape.
TOKEN_SHAPED = re.compile(r"(?<=/)(?:rsl_)?[A-Za-z0-9_-]{43}(?=[/.]|$)")

Scope = dict[str, Any]


def logged_path(path: str) -> str:
    path = PAGE.sub(r"/\1/{token}", path)  # /branding/{token} too: its .css holds the token
    return TOKEN_SHAPED.sub("{token}", path)


class AccessLog:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status: list[int | None] = [None]

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
                    "status": status[0] if status[0] is not None else (
                        499 if state.get("cut_off") else 500),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "actor": state.get("actor")}
            try:
                sys.stderr.write(json.dumps(line, ensure_ascii=False) + "\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass


def server_log(event: str, **fields: Any) -> None:
    """One JSON line on stderr beside the access log (an internal error, the store
    unreachable): never a token, a request body or an exception's text unless asked."""
    line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"), "level": "error", "event": event, **fields}
    try:
        sys.stderr.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def debug_switch() -> bool:
    """`RESELLCTL_DEBUG` (what `--debug` means for the CLI): internal errors are logged
    with their text and traceback, which may hold request values."""
    return os.environ.get("RESELLCTL_DEBUG", "").strip().lower() not in (
        "", "0", "false", "no", "off")


def cut_off(error: BaseException) -> bool:
    """A request that could not finish because its client went away or the server is
    stopping: no internal error (no 500, no traceback in the log)."""
    import anyio
    from starlette.requests import ClientDisconnect

    return isinstance(error, ClientDisconnect | asyncio.CancelledError | ConnectionError
                      | anyio.BrokenResourceError | anyio.ClosedResourceError
                      | anyio.EndOfStream)


class Crashes:
    """Whatever escapes a route: a bug is answered with the JSON 500 (`exit_code` 1) and
    logged as one JSON line (route, request id, exception type), without the exception's
    text, whose SQL parameters may be request values (`RESELLCTL_DEBUG` adds the text and
    the traceback). A request cut off (client gone, shutdown) is no internal error: it is
    logged by the access log with status 499, and nothing else; a request cancelled by
    the shutdown gets a 503 (exit 75: retry) when it has not answered yet. Nothing
    reaches uvicorn, whose log would print the exception whole."""

    def __init__(self, app: Any, debug: bool | None = None) -> None:
        self.app = app
        self.debug = debug_switch() if debug is None else debug

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = [False]

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                started[0] = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except BaseException as error:  # noqa: BLE001 - the last stop before uvicorn
            if not isinstance(error, Exception) and not cut_off(error):
                raise  # KeyboardInterrupt, SystemExit
            state = scope.setdefault("state", {})
            if cut_off(error):
                state["cut_off"] = True
                if not started[0] and isinstance(error, asyncio.CancelledError):
                    # shutdown's grace period is over; the client, still there, may retry
                    await _quietly(_answer(send, 503, "request_cut_off",
                                           "the server stopped before the request "
                                           "finished; check whether it took effect "
                                           "before sending it again", 75))
                return
            request_id = uuid.uuid4().hex[:16]
            details: dict[str, Any] = {}
            if self.debug:
                details = {"message": str(error), "traceback": "".join(
                    traceback.format_exception(error))}
            server_log("internal_error", method=scope.get("method"),
                       route=_route_of(scope), request_id=request_id,
                       exception=f"{type(error).__module__}.{type(error).__qualname__}",
                       **details)
            if not started[0]:
                await _quietly(_answer(send, 500, "internal",
                                       f"internal error (request {request_id})", 1,
                                       request_id))


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or logged_path(scope.get("path", ""))


async def _quietly(sent: Any) -> None:
    try:
        await sent
    except Exception:  # noqa: BLE001, S110 - the client is gone: nobody to answer
        pass


async def _answer(send: Any, status: int, code: str, message: str, exit_code: int,
                  request_id: str | None = None) -> None:
    body = json.dumps({"error": {"code": code, "message": message,
                                 "exit_code": exit_code}}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()),
               (b"resellctl-exit-code", str(exit_code).encode())]
    if request_id:
        headers.append((b"resellctl-request-id", request_id.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
    await _answer(send, 413, "body_too_large", "the request body is over 64 MiB", 5)
