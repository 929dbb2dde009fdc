"""`resellctl serve`'s /v1 API in-process (fastapi TestClient over create_app) on a real
store, both backends: every fixed route of HTTP.md against the CLI's `-o json` of the
same command, tokens and authentication, scoping over every templated route of the
OpenAPI document, errors, streamed lists byte for byte against `-o csv|ndjson`, and the
secrecy of every token (access log, store, error bodies)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from helpers import ok

from resellctl.server.app import create_app
from resellctl.store.engine import HEAD_REVISION

ADMIN = "admin@vendor.example"
ANA = "ana@acme.example"      # acme owner (admin)
SAM = "sam@acme.example"      # acme admin, later demoted
VIC = "vic@acme.example"      # acme viewer
BO = "bo@beta.example"        # beta owner
GIL = "gil@gamma.example"     # gamma owner: sees nothing of acme
OWNER = "li@bakery.example"   # the beta client's admin
NOW = "2026-03-10T12:00:00Z"
MISSING = {"slug": "nosuch", "uid": "cl_00000000000000000000", "id": "x_0000000000000000",
           "email": "nobody@nowhere.example", "key": "no_such_setting", "code": "no-such"}


def fails(response, status: int, exit_code: int, code: str | None = None) -> dict:  # noqa: ANN001
    """An error answer: the status, the CLI's JSON error shape, never FastAPI's."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message", "exit_code"} <= set(error) <= {
        "code", "message", "exit_code", "hint", "details"}, error
    assert error["exit_code"] == exit_code, error
    if code is not None:
        assert error["code"] == code, error
    assert "Traceback" not in response.text
    return error


@dataclass
class World:
    run: object
    http: TestClient
    url: str
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def cli(self, *args: str, actor: str | None = "default") -> object:
        return ok(self.run(*args, "-o", "json", actor=actor))

    def raw(self, *args: str, actor: str | None = "default") -> str:
        result = self.run(*args, actor=actor)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result.stdout

    def auth(self, who: str = ADMIN, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **headers}

    def get(self, path: str, who: str = ADMIN, **kw):  # noqa: ANN003, ANN201
        headers = {**self.auth(who), **kw.pop("headers", {})}
        return self.http.get(path, headers=headers, **kw)

    def send(self, method: str, path: str, who: str = ADMIN, **kw):  # noqa: ANN003, ANN201
        headers = {**self.auth(who), **kw.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kw)

    def token(self, who: str, *extra: str) -> dict:
        made = self.cli("token", "create", *extra, actor=who)
        self.tokens[who], self.token_ids[who] = made["token"], made["id"]
        return made


def created(response, status: int = 201) -> dict:  # noqa: ANN001
    assert response.status_code == status, (response.request.url, response.text)
    return response.json()


@pytest.fixture
def world(run, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:  # noqa: ANN001
    """acme (ana owner, sam admin, vic viewer; 300 licences, partner supported, $5000),
    beta (bo, one client of li@bakery; named `=Beta`), gamma (gil): an acme client with
    formula-looking values, its subscription, an approval by acme for beta's client, a
    support session, and a token per user. The clock is frozen at NOW for the CLI and the
    server alike. The super admin's and ana's tokens come from the CLI; the rest is made
    through the API itself (one pooled store: fast on PostgreSQL too)."""
    monkeypatch.setenv("RESELLCTL_NOW", NOW)
    app = create_app(store_url)
    with TestClient(app, raise_server_exceptions=False) as http:
        w = World(run, http, store_url)
        w.token(ADMIN)
        for user in (ANA, SAM, VIC, BO, GIL):
            created(w.send("POST", "/v1/users", json={"email": user}))
        w.token(ANA)
        for user in (SAM, VIC, GIL):
            token = created(w.send("POST", "/v1/tokens", json={"user": user}))
            w.tokens[user], w.token_ids[user] = token["token"], token["id"]
        for slug, name, owner, licences in (("acme", "Acme", ANA, 300), ("beta", "=Beta", BO, 5),
                                            ("gamma", "Gamma", GIL, 5)):
            created(w.send("POST", "/v1/resellers", json={
                "slug": slug, "name": name, "owner_email": owner, "licenses": licences,
                "partner_supported": slug == "acme"}))
        for user, role in ((SAM, "admin"), (VIC, "viewer")):
            created(w.send("POST", "/v1/resellers/acme/members",
                        json={"email": user, "role": role}))
        created(w.send("POST", "/v1/resellers/acme/balance/top-ups",
                    json={"amount_cents": 500000}), 200)
        w.ids["uid"] = created(w.send("POST", "/v1/clients", json={
            "reseller": "acme", "name": "=Bakery", "owner_name": "Li",
            "owner_email": "li@b.example", "location": "=SUM(A1)", "external_id": "A-1",
            "support_access": True}))["uid"]
        w.ids["beta_uid"] = created(w.send("POST", "/v1/clients", json={
            "reseller": "beta", "name": "Bakery Li", "owner_name": "Li",
            "owner_email": OWNER}))["uid"]
        w.ids["sub"] = created(w.send("POST", "/v1/subscriptions", json={
            "client": w.ids["uid"], "plan": "business-location", "quantity": 2}))["id"]
        approval = created(w.send("POST", "/v1/approvals", ANA, json={
            "client": w.ids["beta_uid"], "reseller": "acme"}))
        w.ids["approval"], w.ids["approval_url"] = approval["id"], approval["url"]
        session = created(w.send("POST", "/v1/support-sessions", ANA, json={
            "client": w.ids["uid"], "reason": "ticket 1"}))
        w.ids["session"], w.ids["session_url"] = session["id"], session["url"]
        yield w
    app.state.store.dispose()


# ---------------------------------------------------------------- 1. the fixed routes


def test_healthz_whoami_and_resellers(world: World):
    health = world.http.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok",
                                                         "revision": HEAD_REVISION})
    for who in (ADMIN, ANA, VIC):
        response = world.get("/v1/whoami", who)
        assert response.status_code == 200
        assert response.json() == world.cli("whoami", actor=who)

    listed = world.get("/v1/resellers")
    assert listed.status_code == 200
    assert listed.json() == {"items": world.cli("reseller", "list"), "next_offset": None}
    page = world.get("/v1/resellers", params={"limit": 2})
    assert page.json() == {"items": world.cli("reseller", "list")[:2], "next_offset": 2}
    assert world.get("/v1/resellers", params={"active": "true"}).json()["items"] == \
        world.cli("reseller", "list", "--active")
    # a reseller sees only its own
    assert world.get("/v1/resellers", ANA).json() == {
        "items": world.cli("reseller", "list", actor=ANA), "next_offset": None}
    shown = world.get("/v1/resellers/acme", VIC)
    assert (shown.status_code, shown.json()) == (200, world.cli("reseller", "show", "acme",
                                                                actor=VIC))
    licences = world.get("/v1/resellers/acme/licenses", ANA)
    assert (licences.status_code, licences.json()) == (
        200, world.cli("license", "show", "acme", actor=ANA))
    made = world.send("POST", "/v1/resellers", json={
        "slug": "delta", "name": "Delta", "owner_email": BO, "licenses": 3,
        "partner_supported": True})
    assert made.status_code == 201, made.text
    assert made.json() == world.cli("reseller", "show", "delta")
    twin = world.cli("reseller", "create", "--slug", "epsilon", "--name", "Delta",
                     "--owner", BO, "--licenses", "3", "--partner-supported")
    assert made.json() == {**twin, "slug": "delta"}
    fails(world.send("POST", "/v1/resellers", json={"slug": "delta", "name": "D",
                                                    "owner_email": BO}), 409, 4)


def test_licence_purchase_and_idempotency(world: World):
    path = "/v1/resellers/acme/licenses/purchases"
    balance = world.cli("reseller", "balance", "show", "acme")["balance_cents"]
    first = world.send("POST", path, ANA, json={"quantity": 2})
    assert first.status_code == 200, first.text
    twin = world.cli("license", "purchase", "acme", "2", actor=ANA)
    assert set(first.json()) == set(twin)
    deterministic = {k: v for k, v in twin.items() if not k.endswith("id") and k not in (
        "balance_after_cents", "license_count", "license_available", "balance_cents")}
    assert {k: first.json()[k] for k in deterministic} == deterministic
    assert world.cli("license", "show", "acme")["license_count"] == 304
    after_two = world.cli("reseller", "balance", "show", "acme")["balance_cents"]
    assert first.json()["total_cents"] == twin["total_cents"] > 0
    assert after_two == balance - 2 * twin["total_cents"]
    # with a key: the replay is the first answer, and nothing is bought twice
    keyed = world.send("POST", path, ANA, json={"quantity": 1},
                       headers={"Idempotency-Key": "po-1"})
    assert keyed.status_code == 200, keyed.text
    replay = world.send("POST", path, ANA, json={"quantity": 1},
                        headers={"Idempotency-Key": "po-1"})
    assert keyed.json()["replayed"] is False
    assert (replay.status_code, replay.json()) == (200, {**keyed.json(), "replayed": True})
    assert world.cli("license", "show", "acme")["license_count"] == 305
    assert world.cli("reseller", "balance", "show", "acme")["balance_cents"] == \
        after_two - keyed.json()["total_cents"]
    # the CLI and the API share the key's meaning
    cli_replay = world.cli("license", "purchase", "acme", "1", "--idempotency-key", "po-1",
                           actor=ANA)
    assert cli_replay == replay.json()
    fails(world.send("POST", path, ANA, json={"quantity": 3},
                     headers={"Idempotency-Key": "po-1"}), 409, 4)
    assert world.cli("license", "show", "acme")["license_count"] == 305
    # no balance: exit 7 → 409
    fails(world.send("POST", "/v1/resellers/gamma/licenses/purchases", GIL,
                     json={"quantity": 1}), 409, 7)
    fails(world.send("POST", path, VIC, json={"quantity": 1}), 403, 6)


def test_clients(world: World):
    uid = world.ids["uid"]
    for extra in (("Bakery 2", "b2@x.example"), ("Alpha", "alpha@x.example")):
        world.cli("client", "create", "-r", "acme", "--name", extra[0], "--owner-name", "O",
                  "--owner-email", extra[1], "--stage", "demo")
    listed = world.get("/v1/clients")
    assert listed.status_code == 200
    assert listed.json() == {"items": world.cli("client", "list"), "next_offset": None}
    query = {"reseller": "acme", "stage": ["demo", "lead"], "status": "active",
             "search": "Bak", "sort": "-name"}
    filtered = world.get("/v1/clients", ANA, params=query)
    assert filtered.json() == {"items": world.cli(
        "client", "list", "-r", "acme", "--stage", "demo", "--stage", "lead", "--status",
        "active", "--search", "Bak", "--sort", "-name", actor=ANA), "next_offset": None}
    assert len(filtered.json()["items"]) == 2
    first = world.get("/v1/clients", params={"limit": 2, "sort": "name"}).json()
    assert first == {"items": world.cli("client", "list", "--limit", "2"), "next_offset": 2}
    rest = world.get("/v1/clients", params={"limit": 2, "offset": 2}).json()
    assert rest == {"items": world.cli("client", "list", "--limit", "2", "--offset", "2"),
                    "next_offset": None}
    assert world.get("/v1/clients", params={"limit": 1000}).status_code == 200
    for bad in (1001, 0, -1):
        fails(world.get("/v1/clients", params={"limit": bad}), 422, 5)
    fails(world.get("/v1/clients", params={"offset": -1}), 422, 5, "invalid_request")

    shown = world.get(f"/v1/clients/{uid}", VIC)
    assert (shown.status_code, shown.json()) == (200, world.cli("client", "show", uid,
                                                                actor=VIC))
    fields = {"reseller": "acme", "name": "Made", "owner_name": "Mo",
              "owner_email": "mo@x.example", "stage": "trial", "seats": 3,
              "external_id": "E-1"}
    made = world.send("POST", "/v1/clients", ANA, json=fields)
    assert made.status_code == 201, made.text
    assert made.json() == {**world.cli("client", "show", made.json()["uid"]), "created": True}
    twin = world.cli("client", "create", "-r", "acme", "--name", "Made", "--owner-name",
                     "Mo", "--owner-email", "mo@x.example", "--stage", "trial", "--seats",
                     "3", "--external-id", "E-2", actor=ANA)
    differ = {"uid", "external_id", "trial_ends_at"}
    assert {k: v for k, v in made.json().items() if k not in differ} == \
        {k: v for k, v in twin.items() if k not in differ}
    again = world.send("POST", "/v1/clients", ANA, json=fields,
                       params={"if_not_exists": "true"})
    assert again.status_code == 200, again.text  # found, not created
    assert again.json() == {**made.json(), "created": False}
    assert again.json() == world.cli("client", "create", "-r", "acme", "--name", "Made",
                                     "--owner-name", "Mo", "--owner-email", "mo@x.example",
                                     "--external-id", "E-1", "--if-not-exists", actor=ANA)
    fails(world.send("POST", "/v1/clients", ANA, json=fields), 409, 4)

    edited = world.send("PATCH", f"/v1/clients/{uid}", ANA, json={"stage": "demo",
                                                                  "seats": 4})
    assert edited.status_code == 200, edited.text
    assert edited.json() == world.cli("client", "show", uid)
    assert (edited.json()["stage"], edited.json()["seats_allocated"]) == ("demo", 4)
    fails(world.send("PATCH", f"/v1/clients/{uid}", ANA, json={}), 400, 2)


CSV_BODY = ("name,owner_name,owner_email,external_id\r\n"
            "Csv One,Ann,ann@csv.example,C-1\r\n"
            "=Csv Two,Ben,ben@csv.example,C-2\r\n")
NDJSON_BODY = ('{"name": "Nd One", "owner_name": "Cy", "owner_email": "cy@nd.example", '
               '"external_id": "N-1"}\n'
               '{"name": "Nd Two", "owner_name": "Di", "owner_email": "di@nd.example", '
               '"external_id": "N-2"}\n')


def test_client_import_csv_and_ndjson(world: World, tmp_path):  # noqa: ANN001
    for body, media, suffix in ((CSV_BODY, "text/csv", "csv"),
                                (NDJSON_BODY, "application/x-ndjson", "ndjson")):
        file = tmp_path / f"in.{suffix}"
        file.write_text(body, newline="")
        dry = world.send("POST", "/v1/clients/import", ANA, content=body.encode(),
                         params={"reseller": "acme", "dry_run": "true"},
                         headers={"Content-Type": media})
        assert dry.status_code == 200, dry.text
        cli_dry = world.cli("client", "import", str(file), "-r", "acme", "--dry-run",
                            actor=ANA)
        assert dry.json() == cli_dry
        done = world.send("POST", "/v1/clients/import", ANA, content=body.encode(),
                          params={"reseller": "acme"}, headers={"Content-Type": media})
        assert done.status_code == 200, done.text
        assert set(done.json()) == set(cli_dry)
        again = world.cli("client", "import", str(file), "-r", "acme", "--dry-run",
                          "--on-existing", "skip", actor=ANA)
        skipped = world.send("POST", "/v1/clients/import", ANA, content=body.encode(),
                             params={"reseller": "acme", "dry_run": "true",
                                     "on_existing": "skip"},
                             headers={"Content-Type": media})
        assert skipped.json() == again
    names = {c["name"] for c in world.cli("client", "list", "-r", "acme")}
    assert {"Csv One", "=Csv Two", "Nd One", "Nd Two"} <= names
    # a partial import answers 200 with its body, marked exit 9
    partial = world.send("POST", "/v1/clients/import", ANA,
                         content=(CSV_BODY.replace("C-", "P-") + "Bad,X,not-an-email,P-3\r\n")
                         .encode(), params={"reseller": "acme", "continue_on_error": "true"},
                         headers={"Content-Type": "text/csv"})
    assert partial.status_code == 200, partial.text
    assert partial.headers["Resellctl-Exit-Code"] == "9"
    fails(world.send("POST", "/v1/clients/import", VIC, content=CSV_BODY.encode(),
                     params={"reseller": "acme"}, headers={"Content-Type": "text/csv"}),
          403, 6)


def test_subscriptions_approvals_and_support_sessions(world: World):
    listed = world.get("/v1/subscriptions", ANA)
    assert listed.status_code == 200
    assert listed.json() == {"items": world.cli("subscription", "list", actor=ANA),
                             "next_offset": None}
    uid = world.ids["uid"]
    made = world.send("POST", "/v1/subscriptions", ANA, json={
        "client": uid, "plan": "business-location", "quantity": 3, "interval": "yearly"})
    assert made.status_code == 201, made.text
    assert made.json() == world.cli("subscription", "show", made.json()["id"])
    twin = world.cli("subscription", "create", uid, "--plan", "business-location",
                     "--quantity", "3", "--interval", "yearly", actor=ANA)
    assert {k: v for k, v in made.json().items() if k != "id"} == \
        {k: v for k, v in twin.items() if k != "id"}
    path = f"/v1/subscriptions/{made.json()['id']}/activate"
    activated = world.send("POST", path, ANA, headers={"Idempotency-Key": "act-1"})
    assert activated.status_code == 200, activated.text
    assert activated.json()["status"] == "active"
    replay = world.send("POST", path, ANA, headers={"Idempotency-Key": "act-1"})
    assert (replay.status_code, replay.json()) == (200, {**activated.json(),
                                                         "replayed": True})
    cli_activated = world.cli("subscription", "activate", twin["id"], "--idempotency-key",
                              "act-2", actor=ANA)
    assert set(cli_activated) == set(activated.json())
    assert {k: v for k, v in activated.json().items() if k != "id"} == \
        {k: v for k, v in cli_activated.items() if k != "id"}
    fails(world.send("POST", "/v1/subscriptions", VIC, json={
        "client": uid, "plan": "business-location", "quantity": 1}), 403, 6)

    shown = world.get(f"/v1/approvals/{world.ids['approval']}", ANA)
    assert (shown.status_code, shown.json()) == (
        200, world.cli("approval", "show", world.ids["approval"], actor=ANA))
    fails(world.send("POST", "/v1/approvals", ANA, json={
        "client": world.ids["beta_uid"], "reseller": "acme"}), 409, 4)
    world.cli("approval", "revoke", world.ids["approval"], actor=ANA)
    made = world.send("POST", "/v1/approvals", ANA, json={
        "client": world.ids["beta_uid"], "reseller": "acme", "expires_in": "3d"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["url"].startswith("http://127.0.0.1:8600/approve/")
    assert (body["status"], body["client"], body["reseller"], body["expires_at"]) == (
        "pending", world.ids["beta_uid"], "acme", "2026-03-13T12:00:00Z")
    shown = world.cli("approval", "show", body["id"])
    assert {k: v for k, v in body.items() if k != "url"} == {k: shown[k] for k in body
                                                             if k != "url"}
    world.cli("approval", "revoke", body["id"], actor=ANA)
    twin = world.cli("approval", "create", world.ids["beta_uid"], "-r", "acme",
                     "--expires-in", "3d", actor=ANA)
    assert {k: v for k, v in body.items() if k not in ("id", "url")} == {
        k: v for k, v in twin.items() if k not in ("id", "url")}
    assert set(body) == set(twin)
    opened = world.send("POST", "/v1/support-sessions", ANA, json={
        "client": world.ids["uid"], "reason": "ticket 2", "ttl": "1h"})
    assert opened.status_code == 201, opened.text
    session = opened.json()
    assert session["url"].startswith("http://127.0.0.1:8600/support/")
    assert session["expires_at"] == "2026-03-10T13:00:00Z"
    listed = {s["id"]: s for s in world.cli("support", "list", actor=ANA)}
    assert {k: v for k, v in session.items() if k != "url"} == {
        k: v for k, v in listed[session["id"]].items() if k in session}
    redeemed = world.http.post("/v1/support-sessions/redeem", headers=world.auth(ANA),
                               json={"token": session["url"]})
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["status"] == "redeemed"
    twin = world.cli("support", "redeem", world.ids["session_url"], actor=None)
    assert set(twin) == set(redeemed.json())
    fails(world.send("POST", "/v1/support-sessions/redeem", ANA,
                     json={"token": session["url"]}), 409, 4)


def test_reports_and_audit(world: World):
    dashboard = world.get("/v1/reports/dashboard")
    assert (dashboard.status_code, dashboard.json()) == (
        200, world.cli("report", "dashboard"))
    mine = world.get("/v1/reports/dashboard", ANA, params={"reseller": "acme"})
    assert mine.json() == world.cli("report", "dashboard", "-r", "acme", actor=ANA)
    audit = world.get("/v1/audit")
    assert audit.status_code == 200
    assert audit.json() == {"items": world.cli("audit", "list"), "next_offset": None}
    options = ("--action", "reseller.", "-r", "acme", "--actor", ADMIN, "--since",
               "2026-03-01")
    query = {"action": "reseller.", "reseller": "acme", "actor": ADMIN,
             "since": "2026-03-01"}
    every = world.cli("audit", "list", *options)
    assert len(every) >= 3  # the create and two members at least
    assert world.get("/v1/audit", params=query).json() == {"items": every,
                                                           "next_offset": None}
    for offset in range(len(every)):
        page = world.get("/v1/audit", params={**query, "limit": 1, "offset": offset})
        assert page.json() == {"items": every[offset:offset + 1], "next_offset":
                               offset + 1 if offset < len(every) - 1 else None}
    assert world.get("/v1/audit", params={**query, "limit": 2}).json() == {
        "items": world.cli("audit", "list", *options, "--limit", "2"), "next_offset": 2}
    viewer = world.get("/v1/audit", VIC, params={"reseller": "acme"})
    assert viewer.json() == {"items": world.cli("audit", "list", "-r", "acme", actor=VIC),
                             "next_offset": None}


# ---------------------------------------------------------------- 2. tokens


def test_bad_tokens_token_list_and_last_used(world: World,
                                              monkeypatch: pytest.MonkeyPatch):
    expiring = world.cli("token", "create", "--expires-in", "1s", actor=ANA)["token"]
    revoked = world.cli("token", "create", actor=ANA)
    assert world.get("/v1/whoami", headers={
        "Authorization": f"Bearer {revoked['token']}"}).status_code == 200
    world.cli("token", "revoke", revoked["id"], actor=ANA)
    monkeypatch.setenv("RESELLCTL_NOW", "2026-03-10T12:00:01Z")
    unknown = "rsl_" + "A" * 43
    cases = {"missing": {}, "malformed": {"Authorization": "Bearer not-a-token"},
             "not bearer": {"Authorization": f"Basic {world.tokens[ANA]}"},
             "empty": {"Authorization": "Bearer "},
             "unknown": {"Authorization": f"Bearer {unknown}"},
             "expired": {"Authorization": f"Bearer {expiring}"},
             "revoked": {"Authorization": f"Bearer {revoked['token']}"}}
    bodies = set()
    for name, headers in cases.items():
        for method, path in (("GET", "/v1/whoami"), ("POST", "/v1/clients"),
                             ("GET", f"/v1/clients/{world.ids['uid']}")):
            response = world.http.request(method, path, headers=headers)
            assert response.status_code == 401, (name, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer", name
            fails(response, 401, 6, "unauthorized")
            bodies.add(response.content)
    assert len(bodies) == 1, bodies
    # the token still works a second before it expires, and the others are untouched
    monkeypatch.setenv("RESELLCTL_NOW", NOW)
    assert world.get("/v1/whoami", headers={
        "Authorization": f"Bearer {expiring}"}).status_code == 200
    assert world.get("/v1/whoami", ANA).status_code == 200

    token, token_id = world.tokens[VIC], world.token_ids[VIC]

    def listed() -> dict:
        result = world.run("token", "list", "-o", "json", actor=VIC)
        assert token not in result.stdout
        return {t["id"]: t for t in ok(result)}

    for fmt in ("table", "csv", "ndjson", "json"):
        assert token not in world.raw("token", "list", "-o", fmt)
    assert listed()[token_id]["last_used_at"] is None
    assert set(listed()[token_id]) >= {"id", "name", "user", "created_at", "last_used_at",
                                      "expires_at", "revoked_at"}
    assert world.get("/v1/whoami", VIC).status_code == 200
    assert listed()[token_id]["last_used_at"] == NOW
    monkeypatch.setenv("RESELLCTL_NOW", "2026-03-10T12:00:59Z")
    assert world.get("/v1/whoami", VIC).status_code == 200
    assert world.get("/v1/clients", VIC).status_code == 200
    assert listed()[token_id]["last_used_at"] == NOW
    monkeypatch.setenv("RESELLCTL_NOW", "2026-03-10T12:01:00Z")
    assert world.get("/v1/whoami", VIC).status_code == 200
    assert listed()[token_id]["last_used_at"] == "2026-03-10T12:01:00Z"
    # the API lists tokens as the CLI does, never the token either
    api = world.get("/v1/tokens", VIC)
    assert api.json() == {"items": list(listed().values()), "next_offset": None}
    assert token not in api.text


def test_membership_changes_apply_on_the_next_request(world: World):
    uid = world.ids["uid"]
    assert world.get("/v1/resellers/acme", VIC).status_code == 200
    world.cli("reseller", "member", "remove", "acme", VIC)
    fails(world.get("/v1/resellers/acme", VIC), 404, 3)
    fails(world.get(f"/v1/clients/{uid}", VIC), 404, 3)
    # a lower role: an admin made viewer cannot write any more
    assert world.send("PATCH", f"/v1/clients/{uid}", SAM, json={"seats": 2}).status_code == 200
    world.cli("reseller", "member", "remove", "acme", SAM)
    world.cli("reseller", "member", "add", "acme", SAM, "--role", "viewer")
    fails(world.send("PATCH", f"/v1/clients/{uid}", SAM, json={"seats": 3}), 403, 6)
    assert world.get(f"/v1/clients/{uid}", SAM).json()["seats_allocated"] == 2


# ---------------------------------------------------------------- 3. scoping

# Every templated route: (method, path) → (body, exit code for gil of gamma on acme's
# object, exit code for vic, acme's viewer; None = allowed). Super-admin-only routes are
# 403 for anyone else, whatever the object: the same answer for a missing one (checked).
SCOPED: dict[tuple[str, str], tuple[dict | None, int | None, int | None]] = {
    ("PUT", "/v1/settings/{key}"): ({"value": "3d"}, 6, 6),
    ("GET", "/v1/users/{email}"): (None, 3, None),
    ("POST", "/v1/tokens/{id}/revoke"): (None, 3, 3),
    ("GET", "/v1/resellers/{slug}"): (None, 3, None),
    ("PATCH", "/v1/resellers/{slug}"): ({"name": "Hijacked"}, 6, 6),
    ("POST", "/v1/resellers/{slug}/activate"): (None, 6, 6),
    ("POST", "/v1/resellers/{slug}/deactivate"): (None, 6, 6),
    ("GET", "/v1/resellers/{slug}/members"): (None, 3, None),
    ("POST", "/v1/resellers/{slug}/members"): ({"email": BO, "role": "admin"}, 3, 6),
    ("DELETE", "/v1/resellers/{slug}/members/{email}"): (None, 3, 6),
    ("GET", "/v1/resellers/{slug}/branding"): (None, 3, None),
    ("PATCH", "/v1/resellers/{slug}/branding"): ({"primary_color": "#123456"}, 3, 6),
    ("POST", "/v1/resellers/{slug}/branding/clear"): ({"keys": []}, 3, 6),
    ("GET", "/v1/resellers/{slug}/balance"): (None, 3, None),
    ("POST", "/v1/resellers/{slug}/balance/top-ups"): ({"amount_cents": 100}, 6, 6),
    ("POST", "/v1/resellers/{slug}/balance/adjustments"): (
        {"amount_cents": 100, "reason": "x"}, 6, 6),
    ("GET", "/v1/resellers/{slug}/balance/history"): (None, 3, None),
    ("GET", "/v1/resellers/{slug}/licenses"): (None, 3, None),
    ("POST", "/v1/resellers/{slug}/licenses/grants"): ({"quantity": 1}, 6, 6),
    ("POST", "/v1/resellers/{slug}/licenses/revocations"): ({"quantity": 1}, 6, 6),
    ("POST", "/v1/resellers/{slug}/licenses/purchases"): ({"quantity": 1}, 3, 6),
    ("GET", "/v1/clients/{uid}"): (None, 3, None),
    ("PATCH", "/v1/clients/{uid}"): ({"name": "Hijacked"}, 3, 6),
    ("DELETE", "/v1/clients/{uid}"): (None, 3, 6),
    ("POST", "/v1/clients/{uid}/usage"): ({"seats_used": 1}, 3, 6),
    ("POST", "/v1/clients/{uid}/deactivate"): (None, 3, 6),
    ("POST", "/v1/clients/{uid}/reactivate"): (None, 3, 6),
    ("GET", "/v1/plans/{code}"): (None, None, None),  # the catalog is everyone's
    ("GET", "/v1/subscriptions/{id}"): (None, 3, None),
    ("PATCH", "/v1/subscriptions/{id}"): ({"quantity": 9}, 3, 6),
    ("POST", "/v1/subscriptions/{id}/activate"): (None, 3, 6),
    ("POST", "/v1/subscriptions/{id}/renew"): (None, 3, 6),
    ("POST", "/v1/subscriptions/{id}/pause"): (None, 3, 6),
    ("POST", "/v1/subscriptions/{id}/resume"): (None, 3, 6),
    ("POST", "/v1/subscriptions/{id}/cancel"): (None, 3, 6),
    ("GET", "/v1/approvals/{id}"): (None, 3, None),
    ("POST", "/v1/approvals/{id}/revoke"): (None, 3, 6),
    ("POST", "/v1/support-sessions/{id}/end"): (None, 3, 6),
}
STATUS = {3: 404, 6: 403}


def _values(world: World, path: str) -> dict[str, str]:
    """acme's object for each path parameter of a route."""
    ids = {"/v1/subscriptions/": world.ids["sub"], "/v1/approvals/": world.ids["approval"],
           "/v1/support-sessions/": world.ids["session"],
           "/v1/tokens/": world.token_ids[ANA]}
    found = [v for prefix, v in ids.items() if path.startswith(prefix)]
    return {"slug": "acme", "uid": world.ids["uid"], "key": "approval_ttl", "code":
            "business-location", "email": SAM if "/members/" in path else ANA,
            "id": found[0] if found else ""}


def test_scoping_over_every_templated_route(world: World):
    document = world.http.get("/openapi.json").json()
    templated = {(method.upper(), path) for path, methods in document["paths"].items()
                 for method in methods if "{" in path}
    assert templated == set(SCOPED), (templated ^ set(SCOPED))
    before = {"acme": world.cli("reseller", "show", "acme"),
              "client": world.cli("client", "show", world.ids["uid"]),
              "sub": world.cli("subscription", "show", world.ids["sub"]),
              "approval": world.cli("approval", "show", world.ids["approval"]),
              "members": world.cli("reseller", "member", "list", "acme")}
    problems = []
    for who, column in ((GIL, 1), (VIC, 2)):
        for (method, path), row in SCOPED.items():
            expected = row[column]
            url = path.format(**_values(world, path))
            response = world.send(method, url, who, json=row[0])
            got = response.status_code
            if expected is None:
                if got != 200:
                    problems.append((who, method, path, got, response.text))
                continue
            body = response.json()
            if got != STATUS[expected] or body.get("error", {}).get("exit_code") != expected:
                problems.append((who, method, path, got, response.text))
                continue
            if who == GIL and "{key}" not in path:  # no oracle: a missing object, the same
                missing = world.send(method, path.format(**MISSING), who, json=row[0])
                if (missing.status_code, missing.json()["error"]["exit_code"]) != (
                        got, expected):
                    problems.append((who, method, path, "missing object:",
                                     missing.status_code, missing.text))
    assert problems == []
    # nothing changed
    assert before == {"acme": world.cli("reseller", "show", "acme"),
                      "client": world.cli("client", "show", world.ids["uid"]),
                      "sub": world.cli("subscription", "show", world.ids["sub"]),
                      "approval": world.cli("approval", "show", world.ids["approval"]),
                      "members": world.cli("reseller", "member", "list", "acme")}

    uid = world.ids["uid"]
    for method, path, payload in (
            ("POST", "/v1/clients", {"reseller": "acme", "name": "V", "owner_name": "V",
                                     "owner_email": "v@v.example"}),
            ("POST", "/v1/subscriptions", {"client": uid, "plan": "business-location",
                                           "quantity": 1}),
            ("POST", "/v1/approvals", {"client": world.ids["beta_uid"], "reseller": "acme"}),
            ("POST", "/v1/support-sessions", {"client": uid, "reason": "x"}),
            ("POST", "/v1/resellers", {"slug": "v", "name": "V", "owner_email": VIC})):
        fails(world.send(method, path, VIC, json=payload), 403, 6)
        fails(world.send(method, path, GIL, json={**payload, "reseller": "acme"}
                         if "reseller" in payload and path != "/v1/approvals" else payload),
              *((403, 6) if path == "/v1/resellers" else (404, 3)))


# ---------------------------------------------------------------- 4. errors


def test_validation_and_domain_errors(world: World):
    path = "/v1/resellers/acme/licenses/purchases"
    for payload in ({"quantity": "lots"}, {"quantity": 1, "bogus": 1}, {}, [1], "x"):
        response = world.send("POST", path, ANA, json=payload)
        error = fails(response, 422, 5)
        assert "detail" not in response.json()
        assert error["code"] in ("invalid_request", "invalid_body"), error
    fails(world.send("POST", path, ANA, content=b"{not json",
                     headers={"Content-Type": "application/json"}), 422, 5)
    fails(world.get("/v1/clients", params={"limit": "many"}), 422, 5, "invalid_request")
    fails(world.send("POST", path, ANA), 422, 5)
    unknown = world.get("/v1/nope")
    fails(unknown, 404, 3)
    fails(world.http.get("/nothing/here"), 404, 3)

    uid = world.ids["uid"]
    fails(world.send("PATCH", f"/v1/clients/{uid}", json={}), 400, 2)        # usage
    fails(world.get("/v1/clients/cl_00000000000000000000"), 404, 3)          # not found
    fails(world.send("POST", "/v1/resellers", json={                          # conflict
        "slug": "acme", "name": "A", "owner_email": ANA}), 409, 4)
    fails(world.send("POST", "/v1/clients", json={                            # invalid
        "reseller": "acme", "name": "X", "owner_name": "X", "owner_email": "nope"}), 422, 5)
    fails(world.send("PATCH", f"/v1/clients/{uid}", VIC, json={"seats": 1}), 403, 6)
    fails(world.send("POST", "/v1/resellers/gamma/licenses/purchases", GIL,  # insufficient
                     json={"quantity": 1}), 409, 7)


def test_a_body_over_64_mib_is_413(world: World):
    claimed = world.send("POST", "/v1/resellers", content=b"{}",
                         headers={"Content-Length": str(64 * 1024 * 1024 + 1),
                                  "Content-Type": "application/json"})
    fails(claimed, 413, 5, "body_too_large")

    def chunks() -> Iterator[bytes]:
        block = b" " * (1024 * 1024)
        for _ in range(65):
            yield block

    streamed = world.send("POST", "/v1/resellers", content=chunks(),
                          headers={"Content-Type": "application/json"})
    fails(streamed, 413, 5, "body_too_large")
    assert [r["slug"] for r in world.cli("reseller", "list")] == ["acme", "beta", "gamma"]


# ---------------------------------------------------------------- 5. streamed lists


def test_lists_stream_as_the_cli_prints(world: World):
    world.cli("client", "create", "-r", "beta", "--name", "+Plus, \"quoted\"",
              "--owner-name", "@at", "--owner-email", "plus@x.example", "--location",
              "-1+1")
    for route, command in (("/v1/clients", ("client", "list")),
                           ("/v1/resellers", ("reseller", "list")),
                           ("/v1/subscriptions", ("subscription", "list")),
                           ("/v1/audit", ("audit", "list"))):
        for media, fmt in (("text/csv", "csv"), ("application/x-ndjson", "ndjson")):
            response = world.get(route, headers={"Accept": media})
            assert response.status_code == 200, (route, response.text)
            assert response.headers["content-type"].startswith(media)
            expected = world.raw(*command, "-o", fmt)
            assert response.text == expected, (route, fmt)
    csv = world.get("/v1/clients", headers={"Accept": "text/csv"}).text
    assert ",'=Bakery,'=SUM(A1)," in csv and "'=Beta" in world.get(
        "/v1/resellers", headers={"Accept": "text/csv"}).text
    # every row, not a page
    more = "".join(f"S{i:03},O,s{i}@s.example\n" for i in range(150))
    done = world.send("POST", "/v1/clients/import", ANA,
                      content=("name,owner_name,owner_email\n" + more).encode(),
                      params={"reseller": "acme"}, headers={"Content-Type": "text/csv"})
    assert done.status_code == 200, done.text
    lines = world.get("/v1/clients", headers={"Accept": "application/x-ndjson"},
                      params={"reseller": "acme"}).text.splitlines()
    assert len(lines) == 151 and lines == world.raw("client", "list", "-r", "acme", "-o",
                                                    "ndjson").splitlines()
    page = world.get("/v1/clients", params={"reseller": "acme"}).json()
    assert (len(page["items"]), page["next_offset"]) == (100, 100)
    fails(world.get("/v1/clients/cl_00000000000000000000", headers={"Accept": "text/csv"}),
          404, 3)
    # a limit: at most that many rows, as the CLI's --limit
    for route, command in (("/v1/clients", ("client", "list")), ("/v1/audit", ("audit", "list"))):
        for media, fmt in (("text/csv", "csv"), ("application/x-ndjson", "ndjson")):
            limited = world.get(route, params={"limit": 2}, headers={"Accept": media})
            assert limited.text == world.raw(*command, "--limit", "2", "-o", fmt), route
    # an error is the JSON error with its status, before any byte is sent
    bad = world.get("/v1/clients", params={"sort": "bogus"})
    assert bad.status_code in (400, 422), bad.text
    for media in ("text/csv", "application/x-ndjson"):
        streamed = world.get("/v1/clients", params={"sort": "bogus"}, headers={"Accept": media})
        assert (streamed.status_code, streamed.json()) == (bad.status_code, bad.json())
    # another reseller's list: 404 as in JSON and as the CLI (exit 3), before any byte
    for route in ("/v1/clients", "/v1/subscriptions", "/v1/resellers/gamma/members"):
        for media in ("text/csv", "application/x-ndjson"):
            fails(world.get(route, VIC, params={"reseller": "gamma"},
                            headers={"Accept": media}), 404, 3)


# ---------------------------------------------------------------- 6. secrets


def _dump_store(world: World) -> str:
    from sqlalchemy import inspect, select, table, text

    store = world.http.app.state.store
    parts = []
    with store.read() as conn:
        for name in inspect(conn).get_table_names():
            columns = [c["name"] for c in inspect(conn).get_columns(name)]
            query = select(*(text(f'"{c}"') for c in columns)).select_from(table(name))
            parts += [f"{name}: {tuple(row)!r}" for row in conn.execute(query)]
    return "\n".join(parts)


def other_last(token: str) -> str:
    """The token with its last character changed (never the same token)."""
    return token[:-1] + ("Q" if token[-1] != "Q" else "R")


def test_no_token_in_the_access_log_the_store_or_an_error(world: World,
                                                          capsys: pytest.CaptureFixture):
    capsys.readouterr()
    api_token = world.tokens[ANA]
    approval_token = world.ids["approval_url"].rsplit("/", 1)[1]
    session_token = world.ids["session_url"].rsplit("/", 1)[1]
    secrets = (api_token, approval_token, session_token)
    answers = [
        world.get("/v1/whoami", ANA, params={"token": api_token}),
        world.http.get("/v1/whoami", headers={"Authorization": f"Bearer {api_token}x"}),
        world.http.get("/v1/whoami", headers={"Authorization": f"Basic {api_token}"}),
        world.http.get(f"/approve/{approval_token}"),
        world.http.get(f"/approve/{other_last(approval_token)}"),
        world.http.get(f"/support/{session_token}"),
        world.http.get(f"/branding/{session_token}.css"),
        world.send("POST", "/v1/support-sessions/redeem", ANA,
                   json={"token": session_token, "extra": session_token}),
        world.send("POST", "/v1/support-sessions/redeem", ANA,
                   json={"token": other_last(session_token)}),
        world.send("POST", "/v1/approvals/accept", json={"token": approval_token,
                                                         "admin_email": ANA}),
        world.send("POST", "/v1/approvals/accept", json={"token": 5, "admin_email": ANA}),
        world.send("POST", "/v1/support-sessions/redeem", ANA,
                   json={"token": session_token}),
        world.http.post(f"/support/{session_token}", headers={"Accept": "application/json"}),
    ]
    statuses = [a.status_code for a in answers]
    assert statuses == [200, 401, 401, 200, 404, 200, 200, 422, 404, 403, 422, 200,
                        409], [a.text for a in answers]
    for answer in answers:
        if answer.status_code >= 400:
            for secret in secrets:
                assert secret not in answer.text, (answer.request.url.path, answer.text)
    log = capsys.readouterr().err
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert len(lines) == len(answers)
    assert [line["status"] for line in lines] == statuses
    assert {line["actor"] for line in lines} == {ANA, ADMIN, None}
    assert lines[3]["path"] == "/approve/{token}" and lines[5]["path"] == "/support/{token}"
    assert all("?" not in line["path"] for line in lines)
    for secret in secrets:
        assert secret not in log
    dump = _dump_store(world)
    assert world.token_ids[ANA] in dump and "api_token" in dump
    for secret in secrets:
        assert secret not in dump
