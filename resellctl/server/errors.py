"""Errors as HTTP answers, in one place: the CLI's JSON error with the status of its exit
code (HTTP.md), for domain errors, request validation, unknown routes and crashes."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from resellctl.cli.errors import INTERNAL, error_body, exit_code
from resellctl.domain.errors import Partial, ResellError, StoreUnavailable, Unauthenticated

STATUS = {2: 400, 3: 404, 4: 409, 5: 422, 6: 403, 7: 409, 75: 503, 9: 200, INTERNAL: 500}
EXIT_HEADER = "Resellctl-Exit-Code"
ERROR_HEADER = "Resellctl-Error"
ERROR_SCHEMA = {"application/json": {"schema": {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "exit_code"],
                             "properties": {"code": {"type": "string"},
                                            "message": {"type": "string"},
                                            "hint": {"type": "string"},
                                            "exit_code": {"type": "integer"},
                                            "details": {"type": "array"}}}}}}}
RESPONSES = {status: {"description": what, "content": ERROR_SCHEMA} for status, what in (
    (400, "Usage error (exit 2)"), (401, "Missing or bad token"),
    (403, "Role too low (exit 6)"), (404, "Not found or not yours (exit 3)"),
    (409, "Conflict (exit 4) or not enough licences or balance (exit 7)"),
    (413, "Body too large"), (422, "Invalid value (exit 5)"),
    (503, "Store unavailable (exit 75)"))}


def answer(error: ResellError, beside: dict | None = None) -> JSONResponse:
    """The error's answer; `beside`: keys sent next to `error` (an import's failed rows,
    when the request asked for them)."""
    body = {**error_body(error), **(beside or {})}
    code = exit_code(error)
    if isinstance(error, Unauthenticated):
        return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer",
                                                            EXIT_HEADER: str(code)})
    return JSONResponse(body, status_code=STATUS.get(code, 500),
                        headers={EXIT_HEADER: str(code)})


def partial(error: Partial) -> JSONResponse:
    """Exit 9 (a partial import, drift found): 200 with the result, and beside its keys
    the error that the CLI prints (`error`, with every failed row in `details`): the
    remote CLI exits 9 from the body. The `Resellctl-Error` header only summarises it
    (code, message, hint, exit code; ASCII JSON of a few KB at most, never the rows): a
    header of every failed row is more than an HTTP client accepts."""
    body = error_body(error)
    result = error.result
    content = {**result, **body} if isinstance(result, dict) else result
    return JSONResponse(content, headers={EXIT_HEADER: "9",
                                          ERROR_HEADER: error_header(body["error"])})


def error_header(error: dict) -> str:
    """The `Resellctl-Error` header: the error without its details, capped (each
    character of the message and hint is at most 6 ASCII bytes: under 4 KB in all)."""
    short = {key: error[key] for key in ("code", "message", "hint", "exit_code")
             if key in error}
    for key, most in (("message", 400), ("hint", 200)):
        if isinstance(short.get(key), str) and len(short[key]) > most:
            short[key] = short[key][:most - 1] + "…"
    return json.dumps({"error": short}, ensure_ascii=True)


def plain(status: int, code: str, message: str, exit_code_: int) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message,
                                   "exit_code": exit_code_}}, status_code=status,
                        headers={EXIT_HEADER: str(exit_code_)})


def install(app: FastAPI) -> None:
    app.add_exception_handler(ResellError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    # Any other exception is a bug: answered and logged by access.Crashes, the outermost
    # middleware under Starlette's own (whose handler would re-raise it to uvicorn, which
    # logs the exception whole, SQL parameters included).


async def _domain(request: Request, error: ResellError) -> JSONResponse:
    if isinstance(error, StoreUnavailable) and not getattr(request.state, "actor", None):
        return answer(unavailable(error, request.url.path))
    return answer(error)


def unavailable(error: ResellError, path: str) -> StoreUnavailable:
    """What an unauthenticated request learns when the store cannot be reached: that it
    is unavailable, never its URL or the driver's text, which go to the server log."""
    from resellctl.server.access import logged_path, server_log

    server_log("store_unavailable", route=logged_path(path), code=error.code,
               message=error.message)
    return StoreUnavailable("the store is unavailable", code="store_unavailable",
                            hint="retry later")


async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
    details = [{"column": ".".join(str(p) for p in e.get("loc", ()) if p != "body")
                or "body", "message": e.get("msg", "")} for e in error.errors()]
    first = details[0] if details else {"column": "body", "message": "invalid request"}
    return JSONResponse({"error": {
        "code": "invalid_request", "message": f"{first['column']}: {first['message']}",
        "exit_code": 5, "details": details}}, status_code=422, headers={EXIT_HEADER: "5"})


async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
    if error.status_code == 404:
        return plain(404, "route_not_found", f"no route {request.url.path}", 3)
    if error.status_code == 405:
        return plain(405, "method_not_allowed",
                     f"{request.method} is not allowed on {request.url.path}", 2)
    return plain(error.status_code, "http_error", str(error.detail), 2)
