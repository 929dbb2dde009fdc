"""Errors as HTTP answers, in one place: the CLI's JSON error with the status of its exit
code (HTTP.md), for domain errors, request validation, unknown routes and crashes."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from resellctl.cli.errors import INTERNAL, error_body, exit_code
from resellctl.domain.errors import Partial, ResellError, Unauthenticated

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
log = logging.getLogger("resellctl.serve")


def answer(error: ResellError, beside: dict | None = None) -> JSONResponse:
    """The error's answer; `beside`: keys sent next to `error` (an import's failed rows,
    when the request asked for them)."""
    body = {**error_body(error), **(beside or {})}
    if isinstance(error, Unauthenticated):
        return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    code = exit_code(error)
    return JSONResponse(body, status_code=STATUS.get(code, 500),
                        headers={EXIT_HEADER: str(code)})


def partial(error: Partial) -> JSONResponse:
    """Exit 9 (a partial import, drift found): 200 with the result; the error that the
    CLI prints beside it travels in a header, ASCII JSON."""
    return JSONResponse(error.result, headers={
        EXIT_HEADER: "9", ERROR_HEADER: json.dumps(error_body(error), ensure_ascii=True)})


def plain(status: int, code: str, message: str, exit_code_: int) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message,
                                   "exit_code": exit_code_}}, status_code=status,
                        headers={EXIT_HEADER: str(exit_code_)})


def install(app: FastAPI) -> None:
    app.add_exception_handler(ResellError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _crash)


async def _domain(request: Request, error: ResellError) -> JSONResponse:
    return answer(error)


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


async def _crash(request: Request, error: Exception) -> JSONResponse:
    log.error("internal error on %s %s: %s", request.method, request.url.path,
              type(error).__name__)
    return plain(500, "internal", "internal error", INTERNAL)
