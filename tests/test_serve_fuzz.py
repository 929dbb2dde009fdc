"""Hypothesis over the OpenAPI document of `serve`, on SQLite and PostgreSQL: requests to
every `/v1` operation, built from the document itself (path ids from a pool of real and
made-up ones, query parameters and JSON bodies from the documented schemas, with wrong
types, unicode and control characters, missing required fields and unknown fields),
sent with a valid super-admin token. Whatever the request, the answer is never a 500,
every error body is exactly the CLI's JSON error, and the status is one the document
lists for the route, or one of 200/201/401/404/405/409/413/422 (HTTP.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import ADMIN
from helpers import ok
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = 300  # per store: 5-10 s each on 2 cores
ALWAYS_ALLOWED = {200, 201, 401, 404, 405, 409, 413, 422}
ERROR_KEYS = {"code", "message", "exit_code"}
OPTIONAL_KEYS = {"hint", "details"}
METHODS = ("get", "post", "put", "patch", "delete")

# strings that reach odd corners: unicode, control characters, NUL, SQL and path tricks
NASTY = ["", " ", "\x00", "\t\n\r", "é", "😀", "a" * 300, "'; DROP TABLE client; --", "%",
         "_", "../..", "null", "true", "0", "-1", "1e309", "9" * 40, "\u202e", "\ud7ff",
         "<script>", "2026-02-30", "2026-06-15", "acme", ADMIN]
text = st.one_of(st.sampled_from(NASTY),
                 st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)),
                         max_size=40),
                 st.text(st.characters(max_codepoint=0x1F), max_size=5))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=False, allow_infinity=False), text)
junk = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)), max_leaves=6)


def resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def value_for(doc: dict, schema: dict) -> st.SearchStrategy:
    """A value that fits the schema most of the time, and any JSON value sometimes."""
    schema = resolve(doc, schema)
    if "anyOf" in schema:
        return st.one_of(*(value_for(doc, s) for s in schema["anyOf"]))
    kind = schema.get("type")
    if kind == "integer":
        fitting = st.one_of(st.integers(-5, 1005), st.integers(-(2**64), 2**64),
                            st.sampled_from([0, 1, 2**31, 2**63, -(2**63) - 1, 10**30]))
    elif kind == "boolean":
        fitting = st.booleans()
    elif kind == "string":
        fitting = st.one_of(text, st.dates().map(str)) if schema.get(
            "format") == "date" else text
    elif kind == "array":
        fitting = st.lists(value_for(doc, schema.get("items", {})), max_size=3)
    elif kind == "object":
        fitting = st.dictionaries(text, junk, max_size=3)
    elif kind == "null":
        fitting = st.none()
    else:
        fitting = junk
    return st.one_of(fitting, fitting, fitting, junk)


def as_query(value: Any) -> str | list[str]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [as_query(v) if not isinstance(v, list | dict) else json.dumps(v)
                for v in value]
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def operations(doc: dict) -> list[tuple[str, str, dict]]:
    return [(method, path, op) for path, ops in doc["paths"].items()
            if path.startswith("/v1/") for method, op in ops.items() if method in METHODS]


@st.composite
def requests(draw: st.DrawFn, doc: dict, ops: list, ids: list[str]) -> dict:
    method, path, op = draw(st.sampled_from(ops))
    url, params, headers = path, {}, {}
    for param in op.get("parameters", []):
        name, where = param["name"], param["in"]
        if where == "path":
            value = draw(st.one_of(st.sampled_from(ids), text.filter(
                lambda s: s not in ("", ".", "..") and "/" not in s and "?" not in s
                and "#" not in s and "\x00" not in s)))
            from urllib.parse import quote

            url = url.replace("{" + name + "}", quote(value, safe=""))
        elif where == "query" and draw(st.booleans()):
            params[name] = as_query(draw(value_for(doc, param.get("schema", {}))))
        elif where == "header" and draw(st.booleans()):
            headers[name] = draw(st.text(st.characters(min_codepoint=0x21,
                                                       max_codepoint=0x7E), max_size=30))
    if draw(st.integers(0, 9)) == 0:  # now and then a query parameter nobody declared
        params[draw(text)] = draw(text)
    request: dict = {"method": method.upper(), "url": url, "params": params,
                     "headers": headers}
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        schema = resolve(doc, content["application/json"]["schema"])
        shape = draw(st.integers(0, 9))
        if shape == 0:
            request["content"] = draw(st.binary(max_size=40))
            headers["Content-Type"] = "application/json"
        elif shape == 1:
            request["json"] = draw(junk)
        else:
            body = {}
            required = set(schema.get("required", []))
            for key, sub in schema.get("properties", {}).items():
                keep = draw(st.integers(0, 9)) < (8 if key in required else 5)
                if keep:
                    body[key] = draw(value_for(doc, sub))
            if shape == 2:
                body[draw(text)] = draw(junk)
            request["json"] = body
    elif path == "/v1/clients/import" and method == "post":
        kind = draw(st.sampled_from(["text/csv", "application/x-ndjson", "text/plain"]))
        headers["Content-Type"] = kind
        lines = draw(st.lists(st.one_of(
            text, st.just("name,owner_name,owner_email"),
            st.just('{"name": "X", "owner_name": "Y", "owner_email": "x@y.example"}')),
            max_size=4))
        request["content"] = "\n".join(lines).encode("utf-8", "surrogatepass")
    return request


def check(response: Any, request: dict, allowed: set[int]) -> None:
    shown = {k: v for k, v in request.items() if v}
    assert response.status_code != 500, (shown, response.text)
    assert response.status_code in allowed, (shown, response.status_code, response.text)
    if response.status_code < 300:
        return
    body = response.json()
    # an import asked for its failed rows (`failed_rows=true`, what `--errors-out` uses)
    # gets them beside the error (docs/rules.md, "Remote contexts")
    asked = str((request.get("params") or {}).get("failed_rows", "")).lower() in (
        "true", "1", "yes", "on")
    extra = {"failed_rows"} if asked and request["url"].endswith("/v1/clients/import") else set()
    assert {"error"} <= set(body) <= {"error"} | extra, (shown, body)
    error = body["error"]
    assert ERROR_KEYS <= set(error) <= ERROR_KEYS | OPTIONAL_KEYS, (shown, body)
    assert isinstance(error["code"], str) and error["code"], (shown, body)
    assert isinstance(error["message"], str) and error["message"], (shown, body)
    assert type(error["exit_code"]) is int, (shown, body)
    assert isinstance(error.get("hint", ""), str), (shown, body)
    assert isinstance(error.get("details", []), list), (shown, body)
    assert "Traceback" not in response.text, (shown, body)


def seed(run) -> list[str]:  # noqa: ANN001
    """A small channel; the ids a request may name (real ones, and made-up ones)."""
    ok(run("user", "create", "ana@acme.example", "-o", "json"))
    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner",
           "ana@acme.example", "--licenses", "5", "--partner-supported", "-o", "json"))
    uid = ok(run("client", "create", "-r", "acme", "--name", "Bakery", "--owner-name", "Li",
                 "--owner-email", "li@bakery.example", "--support-access", "-o", "json"))["uid"]
    other = ok(run("client", "create", "--name", "Direct Co", "--owner-name", "Jo",
                   "--owner-email", "jo@direct.example", "-o", "json"))["uid"]
    sub = ok(run("subscription", "create", uid, "--plan", "business-location",
                 "--quantity", "1", "-o", "json"))["id"]
    approval = ok(run("approval", "create", other, "-r", "acme", "-o", "json"))["id"]
    session = ok(run("support", "open", uid, "--reason", "fuzz", "-o", "json"))["id"]
    spare = ok(run("token", "create", "--name", "spare", "-o", "json"))["id"]
    plans = [p["code"] for p in ok(run("subscription", "plans", "list", "-o", "json"))]
    return ["acme", "nope", uid, other, sub, approval, session, spare, ADMIN,
            "ana@acme.example", "approval_base_url", "support_base_url", "currency",
            "cl_00000000000000000000", "sub_000000000000000000", "apr_0", "tok_0", "sup_0",
            *plans[:2]]


def test_every_v1_operation_answers_in_the_contract(run, store_url: str,  # noqa: ANN001
                                                    tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from resellctl.server.app import create_app

    ids = seed(run)
    token = ok(run("token", "create", "--name", "fuzz", "-o", "json"))["token"]
    with TestClient(create_app(store_url), raise_server_exceptions=False) as http:
        doc = http.get("/openapi.json").json()
        ops = operations(doc)
        assert len(ops) > 60, [p for _, p, _ in ops]
        allowed = {path + method: {int(s) for s in op["responses"] if s.isdigit()}
                   | ALWAYS_ALLOWED for method, path, op in ops}
        seen: set[str] = set()

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck))
        @given(request=requests(doc, ops, ids))
        def one(request: dict) -> None:
            template = next(path + method for method, path, _ in ops
                            if method.upper() == request["method"]
                            and _matches(path, request["url"]))
            seen.add(template)
            sent = {**request, "headers": {**request["headers"],
                                           "Authorization": f"Bearer {token}"}}
            check(http.request(**sent), request, allowed[template])

        one()
        assert len(seen) >= len(ops) // 2, sorted(seen)
        # still authenticated as the super admin: the fuzzing did not lock itself out
        assert http.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"}
                        ).json()["email"] == ADMIN


def _matches(template: str, url: str) -> bool:
    parts, given_ = template.split("/"), url.split("/")
    return len(parts) == len(given_) and all(
        p == g or (p.startswith("{") and p.endswith("}")) for p, g in zip(
            parts, given_, strict=True))


def test_malformed_json_bodies_are_422_in_the_error_shape(run, store_url: str) -> None:  # noqa: ANN001
    from fastapi.testclient import TestClient

    from resellctl.server.app import create_app

    token = ok(run("token", "create", "-o", "json"))["token"]
    with TestClient(create_app(store_url), raise_server_exceptions=False) as http:
        for body in (b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b'{"a":1}', b"{}" * 1000,
                     b'{"name": "\\u0000"}', b'{"seats": 1e400}'):
            response = http.post("/v1/clients", content=body, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            check(response, {"url": "/v1/clients", "content": body}, {400, 422})


def test_a_nul_character_is_a_422_on_every_store(run, store_url: str) -> None:  # noqa: ANN001
    """PostgreSQL text cannot hold NUL: in a path id, a query filter or a body it is the
    CLI's `contains a NUL character` (422) on both stores, never the driver's error (500)."""
    from fastapi.testclient import TestClient

    from resellctl.server.app import create_app

    token = ok(run("token", "create", "-o", "json"))["token"]
    with TestClient(create_app(store_url), raise_server_exceptions=False) as http:
        for method, url, params, body in (
                ("GET", "/v1/resellers/a%00b", {}, None),
                ("GET", "/v1/tokens", {"user": "\x00"}, None),
                ("GET", "/v1/clients", {"search": "bak\x00ery"}, None),
                ("GET", "/v1/support-sessions", {"client": "\x00"}, None),
                ("GET", "/v1/audit", {"action": "x\x00"}, None),
                ("POST", "/v1/approvals", {}, {"client": "cl_\x00", "reseller": "a"}),
                ("POST", "/v1/clients", {}, {"name": "a\x00", "owner_name": "b",
                                             "owner_email": "c@d.example"})):
            request = {"method": method, "url": url, "params": params, "json": body}
            response = http.request(**request, headers={"Authorization": f"Bearer {token}"})
            check(response, request, {422})
            assert "NUL" in response.json()["error"]["message"], (request, response.text)
