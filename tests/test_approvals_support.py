"""Approvals and support sessions through the CLI on both stores: the links, their
states, who may decide, the licence move, the audit story, and the tokens' secrecy."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import ok
from test_entrypoint import clean_env, entry_point

ANA = "ana@acme.example"      # acme admin
SAM = "sam@acme.example"      # acme support
VIC = "vic@acme.example"      # acme viewer
BO = "bo@beta.example"        # beta admin
OWNER = "li@bakery.example"   # the client's admin
NOW = "2026-03-10T12:00:00Z"


def fails(result, code: int, *fragments: str) -> dict:  # noqa: ANN001
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    error = json.loads(result.stderr)["error"]
    assert error["exit_code"] == code
    for fragment in fragments:
        assert fragment in error["message"], (fragment, error)
    return error


@pytest.fixture
def at(run):  # noqa: ANN001, ANN201
    def call(when: str, *args: str, actor: str | None = "default"):  # noqa: ANN202
        return run(*args, "-o", "json", env={"RESELLCTL_NOW": when}, actor=actor)
    return call


@pytest.fixture
def channel(at):  # noqa: ANN001, ANN201
    """acme (partner-supported, 5 licences: ana admin, sam support, vic viewer), beta
    (bo, 5 licences), and a beta client whose admin is li@bakery.example."""
    for user in (ANA, SAM, VIC, BO):
        ok(at(NOW, "user", "create", user))
    ok(at(NOW, "reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", ANA,
          "--licenses", "5", "--partner-supported"))
    ok(at(NOW, "reseller", "create", "--slug", "beta", "--name", "Beta", "--owner", BO,
          "--licenses", "5"))
    ok(at(NOW, "reseller", "member", "add", "acme", SAM, "--role", "support"))
    ok(at(NOW, "reseller", "member", "add", "acme", VIC, "--role", "viewer"))
    uid = ok(at(NOW, "client", "create", "-r", "beta", "--name", "Bakery Li",
                "--owner-name", "Li", "--owner-email", OWNER, "--external-id", "B-1"))["uid"]
    return uid


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def create(at, uid: str, when: str = NOW, *extra: str) -> dict:  # noqa: ANN001
    return ok(at(when, "approval", "create", uid, "-r", "acme", *extra, actor=ANA))


# ---------------------------------------------------------------- approvals


def test_an_approval_moves_the_client_through_the_licence_pools(channel, at, run):
    uid = channel
    made = create(at, uid)
    assert made["url"].startswith("http://127.0.0.1:8600/approve/")
    assert len(token_of(made["url"])) == 43
    assert (made["status"], made["client"], made["reseller"]) == ("pending", uid, "acme")
    assert made["expires_at"] == "2026-03-17T12:00:00Z"  # approval_ttl 7d
    accepted = ok(at(NOW, "approval", "accept", made["url"], "--admin-email", "LI@Bakery.example",
                     actor=None))
    assert (accepted["status"], accepted["decided_by"]) == ("approved", OWNER)
    client = ok(at(NOW, "client", "show", uid))
    assert (client["reseller"], client["external_id"]) == ("acme", None)
    assert ok(at(NOW, "license", "show", "acme"))["license_used"] == 1
    assert ok(at(NOW, "license", "show", "beta"))["license_used"] == 0
    # single use
    fails(at(NOW, "approval", "accept", made["url"], "--admin-email", OWNER, actor=None), 4)
    fails(at(NOW, "approval", "reject", token_of(made["url"]), "--admin-email", OWNER,
             actor=None), 4)
    story = [e["action"] for e in ok(at(NOW, "audit", "list", "--entity", uid))]
    assert story[:1] == ["client.move"] and "client.create" in story
    decided = ok(at(NOW, "audit", "list", "--entity", made["id"]))
    assert [e["action"] for e in decided] == ["approval.accept", "approval.create"]
    assert decided[0]["actor"] == OWNER and decided[1]["actor"] == ANA
    # the URL is shown once: never by list or show
    listed = run("approval", "list", actor=ANA).stdout + json.dumps(
        ok(at(NOW, "approval", "show", made["id"], actor=ANA)))
    assert token_of(made["url"]) not in listed and "url" not in ok(
        at(NOW, "approval", "show", made["id"]))


def test_the_table_prints_the_link_alone_on_the_last_line(channel, run):
    table = run("approval", "create", channel, "-r", "acme", actor=ANA)
    assert table.exit_code == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[-1].startswith("http://127.0.0.1:8600/approve/") and " " not in lines[-1]
    assert any(line.startswith("Status") and "pending" in line for line in lines)


def test_approval_refusals(channel, at):
    uid = channel
    fails(at(NOW, "approval", "create", "cl_00000000000000000000", "-r", "acme",
             actor=ANA), 3)
    fails(at(NOW, "approval", "create", uid, "-r", "beta", actor=BO), 4, "already belongs")
    fails(at(NOW, "approval", "create", uid, "-r", "acme", actor=VIC), 6)
    fails(at(NOW, "approval", "create", uid, "-r", "beta", actor=ANA), 3)  # not its reseller
    first = create(at, uid)
    again = fails(at(NOW, "approval", "create", uid, "-r", "acme", actor=ANA), 4)
    assert first["id"] in again["message"]
    # a wrong e-mail: 6, still pending; a mistyped token: 3
    fails(at(NOW, "approval", "accept", first["url"], "--admin-email", ANA, actor=None), 6)
    token = token_of(first["url"])
    changed = token[:-1] + ("A" if token[-1] != "A" else "B")
    fails(at(NOW, "approval", "accept", changed, "--admin-email", OWNER, actor=None), 3)
    fails(at(NOW, "approval", "accept", "not-a-token", "--admin-email", OWNER, actor=None), 3)
    assert ok(at(NOW, "approval", "show", first["id"]))["status"] == "pending"
    # revoked: closed
    ok(at(NOW, "approval", "revoke", first["id"], actor=ANA))
    fails(at(NOW, "approval", "accept", first["url"], "--admin-email", OWNER, actor=None), 4,
          "revoked")
    fails(at(NOW, "approval", "revoke", first["id"], actor=ANA), 4)
    assert ok(at(NOW, "client", "show", uid))["reseller"] == "beta"


def test_a_link_token_never_begins_with_a_dash(monkeypatch):
    """A token beginning with `-` would be read as an option on a command line (`approval
    reject -0…` → exit 2): such a draw is thrown away and drawn again."""
    from resellctl.domain import tokens

    draws = iter(["-" + "0" * 42, "-" + "A" * 42, "B" * 43])
    monkeypatch.setattr(tokens.secrets, "token_urlsafe", lambda n: next(draws))
    token, digest = tokens.new_token()
    assert token == "B" * 43 and digest == tokens.digest(token)


def test_ids_made_in_one_millisecond_keep_their_width_and_order(monkeypatch):
    """The highest random start of the tail, then a thousand ids in the same
    millisecond: all `sub_` and 17 hex digits, each after the one before."""
    from resellctl.domain import tokens

    monkeypatch.setattr(tokens.time, "time_ns", lambda: 1_800_000_000_000_000_000)
    monkeypatch.setattr(tokens.secrets, "randbits", lambda bits: (1 << bits) - 1)
    monkeypatch.setattr(tokens, "_last", [0, 0])
    made = [tokens.new_id("sub") for _ in range(1000)]
    assert {len(made_id) for made_id in made} == {len("sub_") + 17}
    assert made == sorted(made) and len(set(made)) == 1000


def test_a_dash_token_from_an_older_version_passes_after_a_double_dash(channel, at, run):
    """Links made before tokens avoided a leading `-` are still read: after `--`, or
    as the whole URL (an unknown one here: exit 3, not a usage error)."""
    dash = "-" + "0" * 42
    fails(at(NOW, "approval", "reject", dash, "--admin-email", OWNER, actor=None), 2)
    fails(run("approval", "reject", "--admin-email", OWNER, "-o", "json", "--", dash,
              actor=None), 3)
    fails(at(NOW, "approval", "reject", f"http://127.0.0.1:8600/approve/{dash}",
             "--admin-email", OWNER, actor=None), 3)


def test_expiry_holds_at_its_boundary(channel, at):
    made = create(at, channel, NOW, "--expires-in", "1h")
    before, after = "2026-03-10T12:59:59Z", "2026-03-10T13:00:01Z"
    fails(at(after, "approval", "accept", made["url"], "--admin-email", OWNER, actor=None), 4,
          "expired")
    assert ok(at(after, "approval", "show", made["id"]))["status"] == "expired"
    assert [a["id"] for a in ok(at(after, "approval", "list", "--status", "expired"))] == [
        made["id"]]
    ok(at(before, "approval", "accept", made["url"], "--admin-email", OWNER, actor=None))


def test_no_free_licence_or_an_inactive_reseller_leaves_it_pending(channel, at):
    made = create(at, channel)
    ok(at(NOW, "license", "revoke", "acme", "5", "--reason", "test"))
    fails(at(NOW, "approval", "accept", made["url"], "--admin-email", OWNER, actor=None), 7)
    ok(at(NOW, "license", "grant", "acme", "1", "--reason", "test"))
    ok(at(NOW, "reseller", "deactivate", "acme"))
    fails(at(NOW, "approval", "accept", made["url"], "--admin-email", OWNER, actor=None), 4,
          "inactive")
    assert ok(at(NOW, "approval", "show", made["id"]))["status"] == "pending"
    assert ok(at(NOW, "client", "show", channel))["reseller"] == "beta"
    ok(at(NOW, "reseller", "activate", "acme"))
    ok(at(NOW, "approval", "reject", made["url"], "--admin-email", OWNER, actor=None))
    assert ok(at(NOW, "approval", "show", made["id"]))["status"] == "rejected"
    assert ok(at(NOW, "client", "show", channel))["reseller"] == "beta"


def test_another_resellers_approvals_read_as_not_found(channel, at):
    made = create(at, channel)
    assert ok(at(NOW, "approval", "list", actor=BO)) == []
    fails(at(NOW, "approval", "show", made["id"], actor=BO), 3)
    fails(at(NOW, "approval", "revoke", made["id"], actor=BO), 3)
    assert [a["id"] for a in ok(at(NOW, "approval", "list", actor=VIC))] == [made["id"]]


# ---------------------------------------------------------------- support sessions


@pytest.fixture
def supported(channel, at):  # noqa: ANN001, ANN201
    """An acme client with partner support and support access on."""
    return ok(at(NOW, "client", "create", "-r", "acme", "--name", "Shop", "--owner-name", "S",
                 "--owner-email", "s@shop.example", "--support-access", actor=ANA))["uid"]


def test_a_support_session_is_single_use_within_its_ttl(supported, at, run):
    opened = ok(at(NOW, "support", "open", supported, "--reason", "ticket 4411", actor=SAM))
    assert opened["url"].startswith("http://127.0.0.1:8600/support/")
    assert (opened["opened_by"], opened["expires_at"]) == (SAM, "2026-03-10T12:30:00Z")
    listed = ok(at(NOW, "support", "list", "--active"))
    assert [(s["id"], s["status"]) for s in listed] == [(opened["id"], "active")]
    assert "url" not in listed[0] and token_of(opened["url"]) not in json.dumps(listed)
    redeemed = ok(at("2026-03-10T12:29:59Z", "support", "redeem", opened["url"], actor=None))
    assert redeemed["status"] == "redeemed"
    fails(at(NOW, "support", "redeem", opened["url"], actor=None), 4)
    late = ok(at(NOW, "support", "open", supported, "--reason", "again", "--ttl", "1h",
                 actor=ANA))
    fails(at("2026-03-10T13:00:01Z", "support", "redeem", late["url"], actor=None), 4,
          "expired")
    ended = ok(at(NOW, "support", "open", supported, "--reason", "third", actor=ANA))
    ok(at(NOW, "support", "end", ended["id"], actor=SAM))
    fails(at(NOW, "support", "redeem", ended["url"], actor=None), 4)
    fails(at(NOW, "support", "end", ended["id"], actor=SAM), 4)
    statuses = {s["id"]: s["status"] for s in ok(at("2026-03-10T13:00:01Z", "support",
                                                    "list"))}
    assert statuses == {opened["id"]: "redeemed", late["id"]: "expired",
                        ended["id"]: "ended"}
    story = [e["action"] for e in ok(at(NOW, "audit", "list", "--entity", supported))]
    assert story.count("support.open") == 3 and "support.redeem" in story
    assert "support.end" in story


def test_support_refusals(supported, channel, at):
    fails(at(NOW, "support", "open", supported, "--reason", "x", actor=VIC), 6)
    fails(at(NOW, "support", "open", supported, "--reason", "x", actor=BO), 3)
    fails(at(NOW, "support", "open", supported, "--reason", "  ", actor=SAM), 5)
    error = fails(at(NOW, "support", "open", supported, "--reason", "x", "--ttl", "9h",
                     actor=SAM), 5, "8h")
    assert error["code"] == "ttl_too_long"
    off = ok(at(NOW, "client", "create", "-r", "acme", "--name", "Closed", "--owner-name", "C",
                "--owner-email", "c@closed.example", actor=ANA))["uid"]
    fails(at(NOW, "support", "open", off, "--reason", "x", actor=SAM), 4, "support access")
    ok(at(NOW, "support", "open", off, "--reason", "vendor escalation"))  # super admin
    opened = ok(at(NOW, "support", "open", supported, "--reason", "x", actor=SAM))
    assert ok(at(NOW, "support", "list", actor=BO)) == []
    fails(at(NOW, "support", "end", opened["id"], actor=BO), 3)
    fails(at(NOW, "support", "list", "--client", supported, actor=BO), 3)
    fails(at(NOW, "support", "redeem", "https://x.example/support/" + "A" * 43, actor=None), 3)


# ---------------------------------------------------------------- the tokens' secrecy


def test_raw_tokens_never_reach_the_store(supported, at, store_url):
    approval = create(at, ok(at(NOW, "client", "create", "-r", "beta", "--name", "Other",
                                "--owner-name", "O", "--owner-email", "o@other.example",
                                actor=BO))["uid"])
    session = ok(at(NOW, "support", "open", supported, "--reason", "x", actor=SAM))
    secrets_ = [token_of(approval["url"]), token_of(session["url"])]
    if store_url.startswith("sqlite:///"):
        path = Path(store_url[len("sqlite:///"):])
        blob = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        for token in secrets_:
            assert token.encode() not in blob
        return
    from sqlalchemy import inspect, text

    from resellctl.store.engine import make_engine

    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                columns = [c["name"] for c in inspect(conn).get_columns(table)]
                for column in columns:
                    cell = f'CAST("{column}" AS text)'
                    hits = conn.execute(text(
                        f'SELECT count(*) FROM "{table}" WHERE {cell} LIKE :a OR {cell} LIKE :b'),
                        {"a": f"%{secrets_[0]}%", "b": f"%{secrets_[1]}%"}).scalar()
                    assert hits == 0, (table, column)
    finally:
        engine.dispose()


def test_eight_concurrent_accepts_one_wins(channel, at, store_url, tmp_path):
    made = create(at, channel)
    env = clean_env(tmp_path, RESELLCTL_DATABASE_URL=store_url, RESELLCTL_NOW=NOW)
    procs = [subprocess.Popen([entry_point(), "approval", "accept", made["url"],
                               "--admin-email", OWNER, "-o", "json"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    codes = sorted(p.wait(timeout=120) for p in procs)
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert codes == [0] + [4] * 7, codes
    assert ok(at(NOW, "license", "show", "acme"))["license_used"] == 1
    assert ok(at(NOW, "license", "show", "beta"))["license_used"] == 0
    assert [e["action"] for e in ok(at(NOW, "audit", "list", "--action", "client.move"))
            ] == ["client.move"]
