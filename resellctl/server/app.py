"""`resellctl serve`: the `/v1` routes, built from resellctl.operations, and the pages.

Every route is one call of the domain service its operation names, with a Ctx whose
actor is the token's user: the same scoping, roles and rules as the CLI. Nothing here
decides who may do what.
"""

from __future__ import annotations

import functools
import inspect
import os
from datetime import date
from typing import Any

from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, create_model
from starlette.concurrency import run_in_threadpool

from resellctl import __version__, operations
from resellctl.domain.context import Ctx
from resellctl.domain.errors import Invalid, Partial, ResellError, Unauthenticated
from resellctl.operations import Operation, Param
from resellctl.server import errors, streams, writes
from resellctl.server.access import AccessLog, BodyLimit, Crashes
from resellctl.store.engine import Store

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
TYPES: dict[str, Any] = {"str": str, "int": int, "bool": bool, "date": date,
                         "list": list[str], "dict": dict[str, Any]}
# A JSON body's integers and booleans are strict: `true` is not 1 seat, `1e3` or `2.0`
# not an integer, `"yes"` not a boolean (422, as any wrong type). Dates stay ISO strings.
BODY_TYPES: dict[str, Any] = {**TYPES, "int": StrictInt, "bool": StrictBool,
                              "list": list[StrictStr]}
bearer = HTTPBearer(auto_error=False, description="`rsl_…` from `resellctl token create`")


def from_environment() -> FastAPI:
    """The app of a `serve` worker process (uvicorn's factory): the store and public URL
    come from the parent `serve` through the environment."""
    return create_app(os.environ["RESELLCTL_SERVE_STORE"],
                      os.environ.get("RESELLCTL_SERVE_PUBLIC_URL") or None)


def create_app(store_url: str, public_url: str | None = None,
               debug: bool | None = None) -> FastAPI:
    """`debug` (default: `RESELLCTL_DEBUG`): internal errors are logged with their text
    and traceback."""
    store = Store(store_url)
    app = FastAPI(title="resellctl", version=__version__,
                  description="The resellctl API: every store command of the CLI, with the "
                              "CLI's JSON (HTTP.md).",
                  servers=[{"url": public_url}] if public_url else None,
                  openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)
    app.state.store = store
    errors.install(app)
    app.get("/healthz", tags=["health"], summary="Is the store reachable")(_healthz(store))
    for op in operations.OPERATIONS:
        _route(app, store, op)
    from resellctl.server import pages

    pages.install(app, store)
    app.add_middleware(BodyLimit)
    app.add_middleware(Crashes, debug=debug)
    app.add_middleware(AccessLog)
    return app


def _healthz(store: Store):  # noqa: ANN202
    def healthz() -> JSONResponse:
        from resellctl.store.engine import current_revision

        try:
            with store.read() as conn:
                revision = current_revision(conn)
        except ResellError as error:  # the details to the server log only
            hidden = errors.unavailable(error, "/healthz")
            return JSONResponse({"status": "unavailable", "message": hidden.message},
                                status_code=503, headers={errors.EXIT_HEADER: "75"})
        return JSONResponse({"status": "ok", "revision": revision})

    return healthz


def authenticator(store: Store):  # noqa: ANN201
    """The dependency every /v1 route starts with: the e-mail of the token's user, one
    401 for every bad token (no oracle). It runs before the request is validated, so an
    unauthenticated request learns nothing about the route's parameters."""
    from resellctl.domain import api_tokens

    async def actor(request: Request,
                    credentials: HTTPAuthorizationCredentials | None = Security(bearer)
                    ) -> str:
        if credentials is None:
            raise Unauthenticated(api_tokens.UNAUTHORIZED,
                                  hint="create one with `resellctl token create`")
        # One indexed read, which never waits for a lock: on the event loop, without a
        # hop to the threadpool. The once-a-minute `last_used_at` write may wait (SQLite's
        # write lock): in the threadpool.
        email, stale = api_tokens.identify(store, credentials.credentials)
        if stale is not None:
            await run_in_threadpool(api_tokens.touch, store, stale)
        request.state.actor = email
        return email

    return actor


# ---------------------------------------------------------------- building routes


def _route(app: FastAPI, store: Store, op: Operation) -> None:
    model = _body_model(op)
    handler = _records_handler(store, op) if op.body_kind == "records" else _handler(
        store, op, model)
    handler.__signature__ = inspect.Signature(_signature(op, model, authenticator(store)))
    handler.__name__ = op.name.replace(".", "_").replace("-", "_")
    app.add_api_route(op.path, handler, methods=[op.method], name=op.name,
                      summary=op.summary or f"`resellctl {op.name.replace('.', ' ')}`",
                      tags=[op.name.split(".")[0]], status_code=op.status,
                      responses=errors.RESPONSES, response_model=None)


def _signature(op: Operation, model: type[BaseModel] | None,
               actor: Any) -> list[inspect.Parameter]:
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("request", keyword, annotation=Request),
              inspect.Parameter("actor", keyword, annotation=str, default=Depends(actor))]
    for param in op.params:
        if param.where == "path":
            params.append(inspect.Parameter(param.key, keyword, annotation=str,
                                            default=Path()))
        elif param.where == "query" and not _paging_limit(op, param) and param.required:
            params.append(inspect.Parameter(  # missing: 422, never None into the service
                _ident(param), keyword, annotation=TYPES[param.kind],
                default=Query(alias=param.key)))
        elif param.where == "query" and not _paging_limit(op, param):
            params.append(inspect.Parameter(
                _ident(param), keyword, annotation=TYPES[param.kind] | None,
                default=Query(param.default, alias=param.key)))
        elif param.where == "header":
            params.append(inspect.Parameter(_ident(param), keyword, annotation=str | None,
                                            default=Header(None, alias=param.key)))
    if op.paging:
        params += [inspect.Parameter("limit", keyword, annotation=int | None, default=Query(
                       None, ge=1, le=10**9, description=f"Rows per page (default "
                       f"{DEFAULT_LIMIT}, at most {MAX_LIMIT}; with Accept text/csv or "
                       "application/x-ndjson: at most this many rows, default all)")),
                   inspect.Parameter("offset", keyword, annotation=int,
                                     default=Query(0, ge=0, le=10**9))]
    if model is not None:
        params.append(inspect.Parameter("payload", keyword, annotation=model | None,
                                        default=Body(None)))
    return params


def _ident(param: Param) -> str:
    return f"q_{param.name}"


def _paging_limit(op: Operation, param: Param) -> bool:
    """A listed service's own `limit` is the page's: `limit` is taken once."""
    return op.paging is not None and param.name == "limit"


def _body_model(op: Operation) -> type[BaseModel] | None:
    if op.body_kind == "records":
        return None
    fields: dict[str, Any] = {}
    for param in op.params:
        if param.where == "body":
            kind = BODY_TYPES[param.kind]
            fields[param.key] = (kind, ...) if param.required else (
                kind | None, Field(None))
        elif param.where == "fields":
            for key, kind, _ in param.keys:
                fields[key] = (BODY_TYPES[kind] | None, Field(None))
    for alias, (key, negated) in op.aliases.items():
        kind = fields[key][0]
        fields[alias] = (kind if type(None) in getattr(kind, "__args__", ()) else
                         kind | None, Field(None, description=f"the same as `{key}`"
                                            + (", negated" if negated else "")))
    if not fields:
        return None
    name = "".join(part.title() for part in op.name.replace("-", ".").split(".")) + "Body"
    return create_model(name, __config__=ConfigDict(extra="forbid", strict=False), **fields)


def _arguments(op: Operation, values: dict[str, Any], payload: BaseModel | None) -> dict:
    """The service's keyword arguments from the request's parts."""
    given = _unaliased(op, payload.model_dump(exclude_unset=True)
                       if payload is not None else {})
    arguments: dict[str, Any] = dict(op.fixed)
    for param in op.params:
        if param.where == "path":
            arguments[param.name] = values[param.key]
        elif param.where in ("query", "header") and not _paging_limit(op, param):
            arguments[param.name] = values[_ident(param)]
            if param.where == "header":
                _refuse_blank_header(param, arguments[param.name])
        elif param.where == "body":
            value = given.get(param.key)
            arguments[param.name] = param.default if value is None else value
        elif param.where == "fields":
            merged = {key: default for key, _, default in param.keys}
            merged.update({k: v for k, v in given.items()
                           if k in merged and v is not None})
            arguments[param.name] = {k: v for k, v in merged.items() if v is not None}
    if op.body_kind == "text" and not given.get("text"):
        raise Invalid("the request body must be JSON with the catalog's TOML in `text`",
                      code="invalid_body")
    _refuse_nul(arguments)
    return arguments


def _unaliased(op: Operation, given: dict) -> dict:
    """The body under the operation's own keys: an alias (the result's key, such as
    `license_count` for `licenses`) stands for its key; both, disagreeing, are a 422."""
    for alias, (key, negated) in op.aliases.items():
        value = given.pop(alias, None)
        if value is None:
            continue
        value = not value if negated else value
        if given.get(key) is not None and given[key] != value:
            raise Invalid(f"`{alias}` and `{key}` say different things: give one of them",
                          code="invalid_body")
        given[key] = value
    return given


def _refuse_blank_header(param: Param, value: str | None) -> None:
    """A header that is sent is used: an empty or blank `Idempotency-Key` is the CLI's
    `--idempotency-key ""` (exit 5, 422), never a request without a key."""
    if value is not None and not value.strip():
        if param.name == "idempotency_key":
            raise Invalid("--idempotency-key must be 1 to 200 characters",
                          code="invalid_key")
        raise Invalid(f"the {param.key} header is empty", code="invalid_header")


def _refuse_nul(value: Any, name: str = "a value") -> None:
    """A NUL character anywhere in a request's values is a 422 on every store: PostgreSQL
    text cannot hold one, and a lookup with it would fail in the driver (a 500)."""
    if isinstance(value, str) and "\x00" in value:
        raise Invalid(f"{name} contains a NUL character", code="invalid")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, "a key")
            _refuse_nul(item, str(key))
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_nul(item, name)


def _handler(store: Store, op: Operation, model: type[BaseModel] | None):  # noqa: ANN202
    service = operations.service(op)

    def handler(request: Request, actor: str, **values: Any) -> Response:
        ctx = Ctx(store=store, actor=actor)
        payload = values.pop("payload", None)
        if model is not None and payload is None and _needs_body(op):
            raise Invalid("the request needs a JSON body", code="invalid_body")
        limit, offset = values.pop("limit", None), values.pop("offset", 0)
        arguments = _arguments(op, values, payload)
        streamed = streams.wanted(request) if op.paging else None
        if streamed:
            export = None
            if streamed == "csv" and op.export:
                exporter = operations.service(op, op.export)
                window = {"limit": limit, "offset": offset} if op.paging == "offset" else {}
                export = lambda out: exporter(ctx, out, **arguments, **window)  # noqa: E731
            return streams.listing(lambda: _rows(service, ctx, arguments, op, limit, offset),
                                   op, streamed, export)
        if op.paging:
            if limit is not None and limit > MAX_LIMIT:
                raise Invalid(f"limit {limit} is over {MAX_LIMIT}", code="invalid_limit",
                              hint="page with offset, or ask for text/csv or "
                                   "application/x-ndjson to stream every row")
            return JSONResponse(_page(service, ctx, arguments, op, limit or DEFAULT_LIMIT,
                                      offset))
        return _answer(lambda: service(ctx, **arguments), op)

    if _point_read(op):
        return _on_loop(handler)
    return _threaded(handler, writes.queue_of(store) if op.method != "GET" else None)


def _point_read(op: Operation) -> bool:
    """A GET of one object by its key (or `whoami`): a few indexed reads, which never
    wait for a lock, answered on the event loop. Everything else (lists, reports, writes,
    which may wait for SQLite's write lock or a row lock) runs in the threadpool."""
    return op.method == "GET" and op.paging is None and ("{" in op.path or
                                                         op.name == "whoami")


def _on_loop(handler: Any) -> Any:
    async def on_loop(request: Request, actor: str, **values: Any) -> Response:
        return handler(request, actor, **values)

    return on_loop


def _threaded(handler: Any, queue: writes.WriteQueue | None) -> Any:
    """In the threadpool; a request that writes to a SQLite store waits for its turn
    (resellctl/server/writes.py) rather than in SQLite's busy handler."""
    def queued(request: Request, actor: str, **values: Any) -> Response:
        with queue.turn():
            return handler(request, actor, **values)

    run = handler if queue is None else queued

    async def threaded(request: Request, actor: str, **values: Any) -> Response:
        return await run_in_threadpool(functools.partial(run, request, actor, **values))

    return threaded


def _needs_body(op: Operation) -> bool:
    return any(p.required and p.where == "body" for p in op.params)


def _answer(call: Any, op: Operation) -> JSONResponse:
    """The service's result as the CLI's JSON; a partial result (exit 9) is a 200 with the
    body, marked by `Resellctl-Exit-Code: 9`."""
    try:
        result = call()
    except Partial as partial:
        return errors.partial(partial)
    found = op.status == 201 and isinstance(result, dict) and result.get("created") is False
    return JSONResponse(result, status_code=200 if found else op.status)  # if-not-exists


def _rows(service: Any, ctx: Ctx, arguments: dict, op: Operation, limit: int | None,
          offset: int) -> Any:
    """The rows `limit` and `offset` select (every row without a limit): the service
    pages itself (`offset`), or takes its own `limit` of newest rows, or is sliced."""
    if op.paging == "offset":
        return service(ctx, **arguments, limit=limit, offset=offset)
    own_limit = any(p.name == "limit" for p in op.params)
    if own_limit and limit is not None:
        arguments = {**arguments, "limit": offset + limit}
    rows = service(ctx, **arguments)
    if offset or (limit is not None and not own_limit):
        import itertools

        rows = itertools.islice(rows, offset, None if limit is None else offset + limit)
    return rows


def _page(service: Any, ctx: Ctx, arguments: dict, op: Operation, limit: int,
          offset: int) -> dict:
    """`{"items": [...], "next_offset": N | null}`: one more row than asked tells whether
    there is a next page."""
    rows = list(_rows(service, ctx, arguments, op, limit + 1, offset))
    more = len(rows) > limit
    return {"items": rows[:limit], "next_offset": offset + limit if more else None}


def _records_handler(store: Store, op: Operation):  # noqa: ANN202
    """`POST /v1/clients/import`: the body (CSV or JSON lines) streams into the import as
    it arrives; it is never read whole into memory."""

    async def handler(request: Request, actor: str, **values: Any) -> Response:
        ctx = Ctx(store=store, actor=actor)
        arguments = _arguments(op, values, None)
        return await streams.import_body(request, ctx, arguments)

    return handler
