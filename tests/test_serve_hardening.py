"""Fixes to `resellctl serve` and the remote client (HTTP.md): a partial import's error
in the body (not a huge header), an empty Idempotency-Key, strict JSON types, internal
errors logged without their text, the store's details kept out of unauthenticated
answers, the exit-code header on 401 and 413, and the CLI's keys in request bodies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from helpers import ok

from resellctl.server.app import create_app

ADMIN = "admin@vendor.example"
ANA = "ana@acme.example"
NOW = "2026-03-10T12:00:00Z"


@dataclass
class Api:
    run: object
    http: TestClient
    url: str
    token: str
    uid: str

    def auth(self, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **headers}

    def send(self, method: str, path: str, **kw):  # noqa: ANN003, ANN201
        headers = {**self.auth(), **kw.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kw)


def error_of(response, status: int, exit_code: int) -> dict:  # noqa: ANN001
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["exit_code"] == exit_code, body
    assert response.headers["Resellctl-Exit-Code"] == str(exit_code)
    return body["error"]


@pytest.fixture
def api(run, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:  # noqa: ANN001
    """acme (ana, 50 licences) with one client, and the super admin's token."""
    monkeypatch.setenv("RESELLCTL_NOW", NOW)
    ok(run("user", "create", ANA, "-o", "json"))
    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", ANA,
           "--licenses", "50", "-o", "json"))
    ok(run("reseller", "balance", "top-up", "acme", "1000", "-o", "json"))
    uid = ok(run("client", "create", "-r", "acme", "--name", "Basecamp", "--owner-name",
                 "Owner", "--owner-email", "owner@base.example", "-o", "json"))["uid"]
    token = ok(run("token", "create", "-o", "json"))["token"]
    app = create_app(store_url)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield Api(run, http, store_url, token, uid)
    app.state.store.dispose()


# ---------------------------------------------------------------- 2. Idempotency-Key


@pytest.mark.parametrize("key", ["", "   "])
def test_an_empty_idempotency_key_is_the_clis_422(api: Api, key: str) -> None:
    cli = api.run("reseller", "balance", "top-up", "acme", "5", "--idempotency-key", key,
                  "-o", "json")
    assert cli.exit_code == 5, (cli.stdout, cli.stderr)
    response = api.send("POST", "/v1/resellers/acme/balance/top-ups",
                        json={"amount_cents": 500}, headers={"Idempotency-Key": key})
    assert {"error": error_of(response, 422, 5)} == json.loads(cli.stderr)
    balance = ok(api.run("reseller", "balance", "show", "acme", "-o", "json"))
    assert balance["balance_cents"] == 100000  # nothing moved


# ---------------------------------------------------------------- 1. partial: the body


def bad_import(prefix: str, bad_rows: int) -> str:
    rows = [f"{prefix}Good,Ann,{prefix.lower()}@imp.example"] + [
        f"{prefix}Bad{i},Bob,not-an-email-{i}" for i in range(bad_rows)]
    return "name,owner_name,owner_email\n" + "\n".join(rows) + "\n"


def test_a_partial_import_has_its_error_in_the_body_and_a_small_header(api: Api) -> None:
    response = api.send("POST", "/v1/clients/import", content=bad_import("Big", 3000).encode(),
                        params={"reseller": "acme", "continue_on_error": "true"},
                        headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.headers["Resellctl-Exit-Code"] == "9"
    header = response.headers["Resellctl-Error"]
    assert len(header) < 4096 and "not-an-email" not in header
    summary = json.loads(header)["error"]
    assert summary["code"] == "partial_import" and summary["exit_code"] == 9
    body = response.json()
    assert (body["created"], body["failed"]) == (1, 3000)
    assert body["error"]["code"] == "partial_import" and body["error"]["exit_code"] == 9
    assert len(body["error"]["details"]) == 3000


def test_the_error_header_is_capped() -> None:
    from resellctl.server.errors import error_header

    header = error_header({"code": "x", "message": "é" * 5000, "hint": "h" * 5000,
                           "exit_code": 9, "details": [{"row": 1}] * 10})
    assert len(header) < 4096 and header.isascii() and "details" not in header


# ---------------------------------------------------------------- 3. strict JSON types


@pytest.mark.parametrize("value", [True, 1e3, 2.0, "3"])
def test_an_integer_field_takes_only_a_json_integer(api: Api, value: object) -> None:
    path = f"/v1/clients/{api.uid}"
    error = error_of(api.send("PATCH", path, json={"seats": value}), 422, 5)
    assert error["code"] == "invalid_request" and "seats" in error["message"]
    shown = ok(api.run("client", "show", api.uid, "-o", "json"))
    assert shown["seats_allocated"] == 0
    error_of(api.send("POST", "/v1/resellers/acme/licenses/purchases",
                      json={"quantity": value}), 422, 5)


def test_valid_integers_booleans_and_dates_still_pass(api: Api) -> None:
    edited = api.send("PATCH", f"/v1/clients/{api.uid}", json={"seats": 7,
                                                               "support_access": False})
    assert edited.status_code == 200, edited.text
    assert edited.json()["seats_allocated"] == 7
    error_of(api.send("PATCH", f"/v1/clients/{api.uid}", json={"support_access": 1}),
             422, 5)
    error_of(api.send("PATCH", f"/v1/clients/{api.uid}", json={"support_access": "yes"}),
             422, 5)
    snapshot = api.send("POST", "/v1/reports/snapshot", json={"date": "2026-03-09"})
    assert snapshot.status_code == 200, snapshot.text


# ---------------------------------------------------------------- 4. internal errors

SECRET = "secret-value@body.example"


def crashing_app(store_url: str, monkeypatch: pytest.MonkeyPatch, error: BaseException,
                 **options: object):  # noqa: ANN202
    from resellctl.domain import users

    def whoami(ctx, **kw):  # noqa: ANN001, ANN003, ANN202
        raise error

    monkeypatch.setattr(users, "whoami", whoami)
    return create_app(store_url, **options)


def internal_lines(err: str) -> list[dict]:
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "internal_error"]


def test_an_internal_error_is_one_json_line_without_its_text(
        api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    error = RuntimeError(f"(psycopg.errors.X) boom\n[SQL: INSERT INTO t VALUES (%(e)s)]\n"
                         f"[parameters: {{'e': '{SECRET}'}}]")
    app = crashing_app(api.url, monkeypatch, error, debug=False)
    capsys.readouterr()
    with TestClient(app, raise_server_exceptions=True) as http:  # nothing escapes the app
        response = http.get("/v1/whoami", headers=api.auth())
    err = capsys.readouterr().err
    body = error_of(response, 500, 1)
    assert body["code"] == "internal" and SECRET not in response.text
    request_id = response.headers["Resellctl-Request-Id"]
    assert request_id in body["message"]
    [line] = internal_lines(err)
    assert line["route"] == "/v1/whoami" and line["request_id"] == request_id
    assert line["exception"] == "builtins.RuntimeError"
    assert SECRET not in err and "[SQL" not in err and "Traceback" not in err
    app.state.store.dispose()


def test_the_debug_switch_logs_the_text_and_traceback(
        api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("RESELLCTL_DEBUG", "1")
    app = crashing_app(api.url, monkeypatch, RuntimeError(f"boom {SECRET}"))
    with TestClient(app, raise_server_exceptions=True) as http:
        error_of(http.get("/v1/whoami", headers=api.auth()), 500, 1)
    [line] = internal_lines(capsys.readouterr().err)
    assert SECRET in line["message"] and "Traceback" in line["traceback"]
    app.state.store.dispose()


async def call(app, scope: dict) -> list[dict]:  # noqa: ANN001
    """The ASGI messages an app sends for a GET with no body."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize("kind", ["disconnect", "shutdown"])
def test_a_request_cut_off_is_no_internal_error(
        api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        kind: str) -> None:
    import asyncio

    from starlette.requests import ClientDisconnect

    error = ClientDisconnect() if kind == "disconnect" else asyncio.CancelledError()
    app = crashing_app(api.url, monkeypatch, error)
    capsys.readouterr()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/v1/whoami", "raw_path":
             b"/v1/whoami", "query_string": b"", "root_path": "", "server": ("t", 80),
             "client": ("c", 1), "headers": [(b"authorization",
                                              f"Bearer {api.token}".encode())]}
    sent = asyncio.run(call(app, scope))  # nothing raised out of the app
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses == ([] if kind == "disconnect" else [503])
    err = capsys.readouterr().err
    assert internal_lines(err) == [] and "Traceback" not in err
    [access] = [json.loads(line) for line in err.splitlines() if '"duration_ms"' in line]
    assert access["status"] == (499 if kind == "disconnect" else 503)
    app.state.store.dispose()


# ---------------------------------------------------------------- 5. the store down


@pytest.fixture
def down_url(empty_url: str) -> str:
    """A store that cannot be used: no SQLite file; a PostgreSQL database that does not
    exist (the driver's `FATAL: database ... does not exist`)."""
    if empty_url.startswith("sqlite"):
        return empty_url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(empty_url)
    return urlunsplit(parts._replace(path="/no_such_db_resellctl"))


def test_the_store_down_is_unavailable_without_its_details(
        down_url: str, capsys: pytest.CaptureFixture) -> None:
    secret_bits = ("no_such_db", "does not exist", "postgresql://", "sqlite:", "store.db",
                   "FATAL", "no store at")
    app = create_app(down_url)
    capsys.readouterr()
    with TestClient(app, raise_server_exceptions=True) as http:
        health = http.get("/healthz")
        assert health.status_code == 503
        assert health.json() == {"status": "unavailable",
                                 "message": "the store is unavailable"}
        for page in ("/approve/sometoken", "/support/sometoken"):
            for method in ("GET", "POST"):
                answered = http.request(method, page)
                assert answered.status_code == 503, (page, answered.text)
                assert answered.headers["content-type"].startswith("text/html")
                assert answered.headers["Cache-Control"] == "no-store"
                assert "unavailable" in answered.text.lower()
                assert not any(bit in answered.text for bit in secret_bits), answered.text
        redeem = http.post("/support/sometoken", headers={"Accept": "application/json"})
        assert error_of(redeem, 503, 75)["message"] == "the store is unavailable"
        api_answer = http.get("/v1/whoami", headers={"Authorization": "Bearer rsl_" + "a" * 43})
        error = error_of(api_answer, 503, 75)
        assert error["message"] == "the store is unavailable"
        for answer in (health, api_answer):
            assert not any(bit in answer.text for bit in secret_bits), answer.text
    err = capsys.readouterr().err
    logged = [json.loads(line) for line in err.splitlines() if '"store_unavailable"' in line]
    assert logged and all(line["level"] == "error" for line in logged)
    expected = "no store at" if down_url.startswith("sqlite") else "no_such_db"
    assert expected in logged[0]["message"]
    app.state.store.dispose()


# ---------------------------------------------------------------- 6. exit-code headers


def test_401_and_413_carry_the_exit_code_header(api: Api) -> None:
    error_of(api.http.get("/v1/whoami"), 401, 6)
    error_of(api.http.get("/v1/whoami", headers={"Authorization": "Bearer nope"}), 401, 6)

    def big() -> Iterator[bytes]:
        chunk = b" " * (1024 * 1024)
        for _ in range(65):
            yield chunk

    error_of(api.send("POST", "/v1/users", content=big(),
                      headers={"Content-Type": "application/json"}), 413, 5)


# ---------------------------------------------------------------- 7. the result's keys


def test_bodies_take_the_results_keys_too(api: Api) -> None:
    made = api.send("POST", "/v1/resellers", json={
        "slug": "delta", "name": "Delta", "owner_email": ANA, "license_count": 4,
        "is_active": False})
    assert made.status_code == 201, made.text
    assert (made.json()["license_count"], made.json()["is_active"]) == (4, False)
    assert made.json() == ok(api.run("reseller", "show", "delta", "-o", "json"))
    old_keys = api.send("POST", "/v1/resellers", json={
        "slug": "omega", "name": "Omega", "owner_email": ANA, "licenses": 4,
        "inactive": True})
    assert {k: v for k, v in old_keys.json().items() if k not in ("slug", "name")} == \
        {k: v for k, v in made.json().items() if k not in ("slug", "name")}
    error_of(api.send("POST", "/v1/resellers", json={
        "slug": "zeta", "name": "Zeta", "owner_email": ANA, "licenses": 1,
        "license_count": 2}), 422, 5)
    error_of(api.send("POST", "/v1/resellers", json={
        "slug": "zeta", "name": "Zeta", "owner_email": ANA, "license_count": True}), 422, 5)
    client = api.send("POST", "/v1/clients", json={
        "reseller": "acme", "name": "Seated", "owner_name": "O",
        "owner_email": "o@seated.example", "seats_allocated": 6})
    assert client.status_code == 201, client.text
    assert client.json()["seats_allocated"] == 6
    edited = api.send("PATCH", f"/v1/clients/{client.json()['uid']}",
                      json={"seats_allocated": 9})
    assert (edited.status_code, edited.json()["seats_allocated"]) == (200, 9), edited.text
    assert api.send("PATCH", f"/v1/clients/{api.uid}", json={"seats": 2}).json()[
        "seats_allocated"] == 2
    error_of(api.send("PATCH", f"/v1/clients/{api.uid}",
                      json={"seats": 2, "seats_allocated": 3}), 422, 5)


# ---------------------------------------------------------------- 1. partial, remotely
# (the module's `serve` per store from tests/test_remote.py)

from test_remote import World, same_but_names, without_import_id, world  # noqa: E402, F401


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_remote_import_with_thousands_of_failed_rows_exits_9(world: World,  # noqa: F811
                                                                fmt: str) -> None:
    import uuid

    tag = uuid.uuid4().hex[:5]
    results = {}
    for side in ("local", "remote"):
        path = world.folder / f"bad-{side}-{tag}.csv"
        path.write_text(bad_import(f"{side.title()[:3]}{tag}", 3000), encoding="utf-8")
        results[side] = getattr(world, side)("client", "import", str(path), "-r", "beta",
                                             "--continue-on-error", "-o", fmt)
        results[side].stdout = without_import_id(results[side].stdout, fmt)
    assert results["local"].exit_code == 9, results["local"].stderr[-2000:]
    same_but_names(results["local"], results["remote"], "3,000 failed rows")
    for prefix in ("Loc", "Rem"):
        assert len(world.ok("client", "list", "--search", f"{prefix}{tag}Good")) == 1
