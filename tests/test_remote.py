"""Remote profiles (HTTP.md "Remote profiles") against real `resellctl serve` processes,
one per store and xdist worker, reused by every test of the module:

1. every command run locally (`RESELLCTL_DATABASE_URL` + actor) and remotely
   (`RESELLCTL_URL` + `RESELLCTL_TOKEN`) as the same user prints the same stdout and
   stderr and exits the same, in every `-o` format: reads exactly, writes with their new
   ids (and the data that must differ) normalised, failures (3, 5, 6, 7, 9) exactly;
2. the refusals of a remote profile (exit 2, exit 5) and the redacted token, mode 0600;
3. an unreachable server (exit 75 with its URL, in time) and a bad token (exit 6, hint);
4. retries and broken streams with httpx.MockTransport (the only mocked server);
5. a remote command imports neither SQLAlchemy, SQLModel nor psycopg;
6. streamed lists and the monthly export byte for byte on ~2,000 clients;
7. (slow) a 100,000-row import through the API in a subprocess, under 150 MB.

The clock is frozen at NOW for the CLI and the server alike, so timestamps agree.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from conftest import ADMIN, BACKENDS, Result, _init_store, new_store_url
from typer.testing import CliRunner

NOW = "2026-03-10T12:00:00Z"
MONTH = "2026-03"
ANA, VIC = "ana@acme.example", "vic@acme.example"
BIN = Path(sys.executable).with_name("resellctl")
COLUMNS = "160"
FORMATS = ["table", "json", "ndjson", "csv"]
STARTUP_S = 60
ID_RE = re.compile(r"\b(cl|apr|sup|sub|imp|tok|evt|led|pur)_[0-9A-Za-z]{6,}")
LINK_RE = re.compile(r"/(approve|support)/[A-Za-z0-9_-]{20,}")
STAMP_RE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z| UTC|\+00:00)?")


# ---------------------------------------------------------------- the world


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(config: Path) -> dict[str, str | None]:
    """The env of an in-process invocation: no RESELLCTL_* of the caller (None deletes)."""
    env: dict[str, str | None] = {k: None for k in os.environ
                                  if k.startswith("RESELLCTL_")
                                  and k != "RESELLCTL_TEST_DATABASE_URL"}
    env.update(RESELLCTL_CONFIG=str(config), RESELLCTL_NOW=NOW, NO_COLOR="1",
               COLUMNS=COLUMNS)
    return env


def proc_env(config: Path, **extra: str) -> dict[str, str]:
    """The env of a subprocess: the caller's without RESELLCTL_*, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESELLCTL_")}
    env.update(RESELLCTL_CONFIG=str(config), RESELLCTL_NOW=NOW, NO_COLOR="1",
               COLUMNS=COLUMNS, **extra)
    return env


_cli = CliRunner()


def invoke(args: tuple, env: dict, input: str | None = None) -> Result:
    from resellctl.cli.main import app

    result = _cli.invoke(app, [str(a) for a in args], input=input, env=env,
                         catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


@dataclass
class World:
    backend: str
    db: str
    folder: Path
    base: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    err_path: Path | None = None

    @property
    def config(self) -> Path:
        return self.folder / "config" / "config.toml"

    def local(self, *args: str, who: str = ADMIN, env: dict | None = None,
              input: str | None = None) -> Result:
        full = clean_env(self.config)
        full.update(RESELLCTL_DATABASE_URL=self.db, RESELLCTL_ACTOR=who, **(env or {}))
        return invoke(args, full, input)

    def remote(self, *args: str, who: str = ADMIN, env: dict | None = None,
               input: str | None = None) -> Result:
        full = clean_env(self.config)
        full.update(RESELLCTL_URL=self.base, RESELLCTL_TOKEN=self.tokens[who], **(env or {}))
        return invoke(args, full, input)

    def ok(self, *args: str, who: str = ADMIN) -> dict | list:
        result = self.local(*args, "-o", "json", who=who)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return json.loads(result.stdout)

    def both(self, *args: str, who: str = ADMIN) -> tuple[Result, Result]:
        return self.local(*args, who=who), self.remote(*args, who=who)

    def client(self, name: str, reseller: str = "acme", *extra: str) -> str:
        return self.ok("client", "create", "-r", reseller, "--name", name, "--owner-name",
                       "Owner", "--owner-email", f"{name.lower()}@owner.example",
                       *extra)["uid"]

    def server_log(self) -> str:
        return self.err_path.read_text() if self.err_path else ""


def same(local: Result, remote: Result, what: str = "") -> None:
    assert (remote.exit_code, remote.stdout, remote.stderr) == (
        local.exit_code, local.stdout, local.stderr), what


def norm(text: str) -> str:
    """Writes of two different objects compared: ids, links, and the Rem/Loc names."""
    text = ID_RE.sub(lambda m: f"{m.group(1)}_" + "X" * (len(m.group(0)) - 3), text)
    text = LINK_RE.sub(lambda m: f"/{m.group(1)}/TOKEN", text)
    return text.replace("Rem", "Loc").replace("rem", "loc")


def same_but_names(local: Result, remote: Result, what: str = "") -> None:
    assert (remote.exit_code, norm(remote.stdout), norm(remote.stderr)) == (
        local.exit_code, norm(local.stdout), norm(local.stderr)), what


def without_import_id(text: str, fmt: str) -> str:
    """An import's summary without its (sequential) import id."""
    if fmt == "csv" and text:
        rows = list(csv.DictReader(io.StringIO(text)))
        for row in rows:
            row["import_id"] = "N"
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    text = re.sub(r'("import_id": ?)\d+', r"\1N", text)
    return re.sub(r"(Import ID +)\d+", r"\1N", text)


def start_server(w: World) -> None:
    """Spawn `serve` on the store (it boots while the caller fills the store)."""
    port = free_port()
    w.base = f"http://127.0.0.1:{port}"
    w.err_path = w.folder / "serve.err"
    with w.err_path.open("w") as err:
        w.proc = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port)],
            env=proc_env(w.folder / "serve-config.toml", RESELLCTL_DATABASE_URL=w.db),
            stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)


def wait_listening(w: World) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if f"Listening on {w.base}\n" in w.server_log():
            break
        if w.proc.poll() is not None:
            pytest.fail(f"serve exited {w.proc.returncode}: {w.server_log()}")
        time.sleep(0.1)
    else:
        pytest.fail(f"serve did not listen within {STARTUP_S} s: {w.server_log()}")
    assert httpx.get(f"{w.base}/healthz", timeout=10).json()["status"] == "ok"


def stop_server(w: World) -> None:
    if w.proc is not None and w.proc.poll() is None:
        w.proc.terminate()
        try:
            w.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            w.proc.kill()
            w.proc.wait(timeout=10)


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One store and one `serve` on it for the module (per xdist worker): acme (ana owner,
    vic viewer, partner supported, 500 licences, $100,000), beta (40 licences), poor (no
    money), a client with an active subscription, a support-enabled client, and a token
    for admin, ana and vic."""
    backend = request.param
    folder = tmp_path_factory.mktemp(f"remote-{backend}")
    with new_store_url(backend, folder) as db:
        _init_store(db)
        w = World(backend, db, folder)
        start_server(w)
        try:
            for user in (ANA, VIC, "bo@beta.example"):
                w.ok("user", "create", user)
            w.ok("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", ANA,
                 "--licenses", "500", "--partner-supported")
            w.ok("reseller", "member", "add", "acme", VIC, "--role", "viewer")
            w.ok("reseller", "balance", "top-up", "acme", "100000")
            w.ok("reseller", "create", "--slug", "beta", "--name", "Beta", "--owner",
                 "bo@beta.example", "--licenses", "40")
            w.ok("reseller", "create", "--slug", "poor", "--name", "Poor", "--owner",
                 "bo@beta.example", "--licenses", "1")
            w.ids["uid"] = w.client("Basecamp", "acme", "--location", "Lisbon", "--seats", "3")
            w.ids["sub"] = w.ok("subscription", "create", w.ids["uid"], "--plan",
                                "business-location", "--quantity", "2")["id"]
            w.ok("subscription", "activate", w.ids["sub"])
            w.ids["support"] = w.client("Helpdesk", "acme", "--support-access")
            for user in (ADMIN, ANA, VIC):
                w.tokens[user] = w.ok("token", "create", "--user", user, "--expires-in",
                                      "never")["token"]
            wait_listening(w)
            yield w
        finally:
            stop_server(w)


# ---------------------------------------------------------------- 1. the same commands

READS = [
    ("whoami",),
    ("reseller", "list"),
    ("reseller", "show", "acme"),
    ("license", "show", "acme"),
    ("license", "quote", "25"),
    ("client", "list", "-r", "acme"),
    ("client", "show", "{uid}"),
    ("subscription", "list"),
    ("subscription", "show", "{sub}"),
    ("audit", "list", "--limit", "40"),
    ("client", "show", "cl_doesnotexist"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("command", READS, ids=lambda c: "-".join(c))
def test_reads_are_the_same(world: World, command: tuple, fmt: str) -> None:
    args = [a.format(**world.ids) for a in command]
    local, remote = world.both(*args, "-o", fmt)
    same(local, remote)
    if command[-1] == "cl_doesnotexist":
        assert local.exit_code == 3
        if fmt == "json":
            assert json.loads(local.stderr)["error"]["exit_code"] == 3
        else:
            assert local.stderr.startswith("Error: client `cl_doesnotexist` not found\n")
            assert "Hint: " in local.stderr
    else:
        assert local.exit_code == 0, local.stderr


@pytest.mark.parametrize("fmt", FORMATS)
def test_whoami_and_lists_as_a_member(world: World, fmt: str) -> None:
    for who, fmts in ((ANA, FORMATS), (VIC, ["table", "json"])):
        for args in (("whoami",), ("reseller", "list"), ("client", "list")):
            if fmt in fmts:
                local, remote = world.both(*args, "-o", fmt, who=who)
                assert local.exit_code == 0, local.stderr
                same(local, remote, (who, args))
    # the remote side really went through the server
    assert '"/v1/whoami"' in world.server_log()


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_report_dashboard(world: World, fmt: str) -> None:
    for args in (("report", "dashboard"), ("report", "dashboard", "-r", "acme")):
        local, remote = world.both(*args, "-o", fmt)
        assert local.exit_code == 0, local.stderr
        same(local, remote, args)


@pytest.mark.parametrize("fmt", FORMATS)
def test_license_purchase_replay(world: World, fmt: str) -> None:
    """The same key twice: the second call is a replay, the same locally and remotely."""
    before = world.ok("license", "show", "acme")["license_count"]
    for first_side in ("local", "remote"):
        key = f"k-{fmt}-{first_side}-{uuid.uuid4().hex[:8]}"
        args = ("license", "purchase", "acme", "2", "--idempotency-key", key, "-o", fmt)
        first = getattr(world, first_side)(*args)
        assert first.exit_code == 0, first.stderr
        local, remote = world.both(*args)
        same(local, remote, first_side)
        if fmt == "json":
            replay, original = json.loads(local.stdout), json.loads(first.stdout)
            assert (original.pop("replayed"), replay.pop("replayed")) == (False, True)
            assert replay == original
    # two purchases of two licences, not six: the replays bought nothing
    assert world.ok("license", "show", "acme")["license_count"] == before + 4
    assert world.ok("license", "show", "acme") == json.loads(
        world.remote("license", "show", "acme", "-o", "json").stdout)


@pytest.mark.parametrize("fmt", FORMATS)
def test_client_writes(world: World, fmt: str) -> None:
    """create / edit / deactivate: a local and a remote call differing only in the client."""
    tag = uuid.uuid4().hex[:6]
    names = {"local": f"Loc{tag}", "remote": f"Rem{tag}"}
    created = {}
    for side, name in names.items():
        created[side] = getattr(world, side)(
            "client", "create", "-r", "acme", "--name", name, "--owner-name", "Olga",
            "--owner-email", f"{name.lower()}@owner.example", "--location", "Porto",
            "--seats", "2", "-o", fmt)
    same_but_names(created["local"], created["remote"], "create")
    assert created["local"].exit_code == 0, created["local"].stderr
    uids = {side: world.ok("client", "list", "--search", name)[0]["uid"]
            for side, name in names.items()}
    # the remote write is in the store: show is the same on both sides
    local, remote = world.both("client", "show", uids["remote"], "-o", fmt)
    same(local, remote, "show")
    if fmt == "json":
        written = json.loads(created["remote"].stdout)
        assert written.pop("created") is True
        assert written == json.loads(local.stdout)
    for args in (("edit", "--location", "Braga", "--stage", "demo", "--seats", "4"),
                 ("deactivate",)):
        results = {side: getattr(world, side)("client", args[0], uids[side], *args[1:],
                                               "-o", fmt)
                   for side in names}
        assert results["local"].exit_code == 0, results["local"].stderr
        same_but_names(results["local"], results["remote"], args[0])
    local, remote = world.both("client", "list", "-r", "acme", "--search", tag, "-o", fmt)
    same(local, remote, "list after")


IMPORT_HEADER = "name,owner_name,owner_email,location\n"


def import_rows(prefix: str, bad: bool = True) -> str:
    rows = [f"{prefix}One,Ann,{prefix.lower()}1@imp.example,Faro\n",
            f"{prefix}Two,Bob,{prefix.lower()}2@imp.example,Beja\n",
            f"{prefix}Three,Cid,{prefix.lower()}3@imp.example,Elvas\n"]
    if bad:
        rows.insert(1, f"{prefix}Bad,Dee,not-an-email,Tavira\n")
    return IMPORT_HEADER + "".join(rows)


@pytest.mark.parametrize("fmt", FORMATS)
def test_client_import_with_a_bad_row(world: World, fmt: str) -> None:
    tag = uuid.uuid4().hex[:5]
    path = world.folder / f"import-{fmt}.csv"
    path.write_text(import_rows(f"Loc{tag}"), encoding="utf-8")
    # default mode: nothing written, exit 5, every error listed; the same file both ways
    local, remote = world.both("client", "import", str(path), "-r", "beta", "-o", fmt)
    assert local.exit_code == 5, (local.stdout, local.stderr)
    same(local, remote, "default mode")
    assert "not-an-email" in local.stderr or "owner_email" in local.stderr
    assert world.ok("client", "list", "--search", f"Loc{tag}") == []
    # --continue-on-error: the valid rows written, exit 9 with the same summary and error
    results = {}
    for side in ("local", "remote"):
        path.write_text(import_rows(f"{side.title()[:3]}{tag}"), encoding="utf-8")
        results[side] = getattr(world, side)("client", "import", str(path), "-r", "beta",
                                             "--continue-on-error", "-o", fmt)
    assert results["local"].exit_code == 9, (results["local"].stdout, results["local"].stderr)
    assert results["local"].stdout != without_import_id(results["local"].stdout, fmt)
    for side in results:
        results[side].stdout = without_import_id(results[side].stdout, fmt)
    same_but_names(results["local"], results["remote"], "continue-on-error")
    for prefix in ("Loc", "Rem"):
        assert len(world.ok("client", "list", "--search", f"{prefix}{tag}")) == 3


@pytest.mark.parametrize("mode", [(), ("--continue-on-error", "--dry-run")])
def test_client_import_errors_out_is_the_same_file(world: World, mode: tuple) -> None:
    """--errors-out through the API: the server sends the failed rows back (beside the
    error in all-or-nothing mode, beside the summary with --continue-on-error) and the
    remote CLI writes byte for byte the file the local one writes."""
    tag = uuid.uuid4().hex[:5]
    source = world.folder / f"errors-{tag}.csv"
    source.write_text(import_rows(f"Err{tag}"), encoding="utf-8")
    written = {}
    for side in ("local", "remote"):
        out = world.folder / f"failed-{side}-{tag}.csv"
        result = getattr(world, side)("client", "import", str(source), "-r", "beta", *mode,
                                      "--errors-out", str(out))
        assert result.exit_code == (9 if mode else 5), (side, result.stdout, result.stderr)
        assert str(out) in result.stderr
        written[side] = out.read_bytes()
    assert written["local"] == written["remote"]
    assert b"not-an-email" in written["local"] and written["local"].count(b"\n") == 2
    assert world.ok("client", "list", "--search", f"Err{tag}") == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_subscriptions(world: World, fmt: str) -> None:
    tag = uuid.uuid4().hex[:6]
    uids = {"local": world.client(f"Loc{tag}"), "remote": world.client(f"Rem{tag}")}
    made = {side: getattr(world, side)("subscription", "create", uids[side], "--plan",
                                       "business-location", "--quantity", "3", "-o", fmt)
            for side in uids}
    assert made["local"].exit_code == 0, made["local"].stderr
    same_but_names(made["local"], made["remote"], "create")
    subs = {side: world.ok("subscription", "list", "--client", uid)[0]["id"]
            for side, uid in uids.items()}
    activated = {side: getattr(world, side)("subscription", "activate", subs[side], "-o", fmt)
                 for side in uids}
    assert activated["local"].exit_code == 0, activated["local"].stderr
    same_but_names(activated["local"], activated["remote"], "activate")
    local, remote = world.both("subscription", "list", "-o", fmt)
    assert local.exit_code == 0, local.stderr
    same(local, remote, "list")


@pytest.mark.parametrize("fmt", FORMATS)
def test_approval_create_and_support_open(world: World, fmt: str) -> None:
    tag = uuid.uuid4().hex[:6]
    uids = {"local": world.client(f"Loc{tag}", "beta"),
            "remote": world.client(f"Rem{tag}", "beta")}
    made = {side: getattr(world, side)("approval", "create", uids[side], "-r", "acme",
                                       "-o", fmt) for side in uids}
    assert made["local"].exit_code == 0, made["local"].stderr
    same_but_names(made["local"], made["remote"], "approval create")
    opened = {side: getattr(world, side)("support", "open", world.ids["support"],
                                         "--reason", f"ticket {tag}", "-o", fmt)
              for side in uids}
    assert opened["local"].exit_code == 0, opened["local"].stderr
    same_but_names(opened["local"], opened["remote"], "support open")


@pytest.mark.parametrize("fmt", FORMATS)
def test_failures_are_the_same(world: World, fmt: str) -> None:
    # a viewer's write: exit 6
    args = ("client", "create", "-r", "acme", "--name", "Nope", "--owner-name", "N",
            "--owner-email", "n@nope.example", "-o", fmt)
    local, remote = world.both(*args, who=VIC)
    assert local.exit_code == 6, (local.stdout, local.stderr)
    same(local, remote, "viewer write")
    # a short balance: exit 7
    local, remote = world.both("license", "purchase", "poor", "5", "-o", fmt)
    assert local.exit_code == 7, (local.stdout, local.stderr)
    same(local, remote, "short balance")
    # a usage problem found by the command (not the parser): exit 2 on both sides
    local, remote = world.both("client", "list", "--sort", "nonsense", "-o", fmt)
    assert local.exit_code != 0
    same(local, remote, "bad sort")


# ---------------------------------------------------------------- 2. refusals


def test_local_only_commands_and_actor_are_refused(world: World) -> None:
    for args in (("init", "--admin-email", "x@y.example"), ("db", "status"),
                 ("serve", "--port", "1")):
        result = world.remote(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert "remote" in result.stderr and world.base in result.stderr, result.stderr
    result = world.remote("--as", "x@y.example", "whoami")
    assert result.exit_code == 2, result.stderr
    assert "--as" in result.stderr
    result = world.remote("whoami", env={"RESELLCTL_ACTOR": ADMIN})
    assert result.exit_code == 2, result.stderr
    result = world.remote("whoami", env={"RESELLCTL_DATABASE_URL": world.db})
    assert result.exit_code == 2, result.stderr
    assert "RESELLCTL_URL" in result.stderr
    # the same refusals through a saved remote profile
    config = world.folder / "refusal-config.toml"
    env = clean_env(config)
    made = invoke(("context", "create", "api", "--url", world.base, "--token",
                   world.tokens[ADMIN]), env)
    assert made.exit_code == 0, made.stderr
    for args in (("init", "--admin-email", "x@y.example"), ("db", "status"),
                 ("--as", "x@y.example", "whoami")):
        result = invoke(args, env)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert json.loads(invoke(("whoami", "-o", "json"), env).stdout) == world.ok("whoami")


def test_context_create_checks_and_redaction(tmp_path: Path) -> None:
    config = tmp_path / "ctx" / "config.toml"
    env = clean_env(config)
    token = "rsl_" + "a1B2c3D4e5" * 4 + "wxyz"[:3]
    assert len(token) == 47
    result = invoke(("context", "create", "both", "--url", "https://api.example.com",
                     "--token", token, "--db", "sqlite:///x.db"), env)
    assert result.exit_code == 2, result.stderr
    result = invoke(("context", "create", "actor", "--url", "https://api.example.com",
                     "--token", token, "--as", "x@y.example"), env)
    assert result.exit_code == 2, result.stderr
    result = invoke(("context", "create", "plain", "--url", "http://api.example.com",
                     "--token", token), env)
    assert result.exit_code == 5, result.stderr
    assert not config.exists() or "plain" not in config.read_text()
    for name, args in (("loop", ("--url", "http://127.0.0.1:9")),
                       ("insecure", ("--url", "http://api.example.com", "--insecure-http")),
                       ("secure", ("--url", "https://api.example.com"))):
        result = invoke(("context", "create", name, *args, "--token", token, "-o", "json"),
                        env)
        assert result.exit_code == 0, (name, result.stderr)
        assert token not in result.stdout + result.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert token in config.read_text()
    shown = f"rsl_…{token[-4:]}"
    for fmt in FORMATS:
        for args in (("context", "list"), ("context", "show"),
                     ("--profile", "secure", "context", "show")):
            result = invoke((*args, "-o", fmt), env)
            assert result.exit_code == 0, (args, result.stderr)
            assert token not in result.stdout + result.stderr, (args, fmt)
            assert token[4:12] not in result.stdout, (args, fmt)
            if fmt != "table" or args[-1] == "show":
                assert shown in result.stdout, (args, fmt, result.stdout)


# ---------------------------------------------------------------- 3. unreachable, bad token


def test_unreachable_server_exits_75_in_time(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = clean_env(tmp_path / "c.toml")
    env.update(RESELLCTL_URL=url, RESELLCTL_TOKEN="rsl_" + "x" * 43)
    started = time.monotonic()
    result = invoke(("client", "list"), env)
    elapsed = time.monotonic() - started
    assert result.exit_code == 75, (result.stdout, result.stderr)
    assert url in result.stderr
    assert elapsed < 15, elapsed
    assert "Traceback" not in result.stderr


def test_bad_token_exits_6_with_the_hint(world: World) -> None:
    for token in ("rsl_" + "Q" * 43, "not-a-token"):
        env = clean_env(world.config)
        env.update(RESELLCTL_URL=world.base, RESELLCTL_TOKEN=token)
        for fmt in ("table", "json"):
            result = invoke(("whoami", "-o", fmt), env)
            assert result.exit_code == 6, (result.stdout, result.stderr)
            assert "resellctl token create" in result.stderr, result.stderr
            assert "context" in result.stderr
            assert token not in result.stderr
            if fmt == "json":
                assert json.loads(result.stderr)["error"]["exit_code"] == 6


# ---------------------------------------------------------------- 4. MockTransport


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("resellctl.remote.client.BACKOFF", (0.0, 0.0, 0.0))


def mock_remote(responses: list) -> tuple:
    """A Remote whose server answers `responses` in turn (a status, a Response, an
    exception class); the requests it saw."""
    from resellctl.remote.client import Remote

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses[min(len(seen) - 1, len(responses) - 1)]
        if isinstance(answer, type) and issubclass(answer, Exception):
            raise answer("boom", request=request)
        if isinstance(answer, httpx.Response):
            return answer
        if answer == 503:
            return httpx.Response(503, text="busy")
        return httpx.Response(answer, json={"ok": True})

    return Remote("http://api.test", "rsl_" + "t" * 43,
                  transport=httpx.MockTransport(handler)), seen


def test_get_503_then_200_is_retried(no_backoff: None) -> None:
    remote, seen = mock_remote([503, 200])
    assert remote.call("whoami", {}) == {"ok": True}
    assert [r.method for r in seen] == ["GET", "GET"]
    assert seen[0].headers["Authorization"] == "Bearer rsl_" + "t" * 43


def test_post_without_key_is_not_retried(no_backoff: None) -> None:
    from resellctl.domain.errors import StoreUnavailable

    remote, seen = mock_remote([503, 201])
    with pytest.raises(StoreUnavailable) as caught:
        remote.call("client.create", {"reseller": "acme", "fields": {"name": "X"}})
    assert len(seen) == 1
    assert "http://api.test" in caught.value.message


def test_post_with_idempotency_key_is_retried(no_backoff: None) -> None:
    remote, seen = mock_remote([503, httpx.ConnectError, 200])
    assert remote.call("license.purchase", {"slug": "acme", "quantity": 1,
                                            "idempotency_key": "k-1"}) == {"ok": True}
    assert len(seen) == 3
    assert {r.headers["Idempotency-Key"] for r in seen} == {"k-1"}
    assert {r.content for r in seen} == {seen[0].content}


def test_connection_errors_retried_three_times_then_unavailable(no_backoff: None) -> None:
    from resellctl.domain.errors import StoreUnavailable

    remote, seen = mock_remote([httpx.ConnectError])
    with pytest.raises(StoreUnavailable) as caught:
        remote.call("whoami", {})
    assert len(seen) == 4
    assert "http://api.test" in caught.value.message


def test_real_backoff_is_about_half_one_two_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    from resellctl.remote import client

    slept: list[float] = []
    monkeypatch.setattr(client.time, "sleep", slept.append)
    remote, seen = mock_remote([503])
    with pytest.raises(client.StoreUnavailable):
        remote.checked(remote.request(client.operations.BY_NAME["whoami"], {}))
    assert slept == [0.5, 1.0, 2.0] and len(seen) == 4


class CutStream(httpx.SyncByteStream):
    """A list body that breaks after two rows."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        raise httpx.ReadError("connection reset mid-body")


def cut_response(kind: str) -> httpx.Response:
    if kind == "csv":
        chunks = [b"uid,name\r\n", b"cl_1,A\r\n", b"cl_2,B\r\n"]
        return httpx.Response(200, headers={"Content-Type": "text/csv"},
                              stream=CutStream(chunks))
    chunks = [b'{"uid": "cl_1", "name": "A"}\n', b'{"uid": "cl_2", "name": "B"}\n']
    return httpx.Response(200, headers={"Content-Type": "application/x-ndjson"},
                          stream=CutStream(chunks))


def test_a_list_cut_mid_stream_is_a_clean_error(no_backoff: None) -> None:
    from resellctl.domain.errors import ResellError

    remote, _ = mock_remote([cut_response("ndjson")])
    with pytest.raises(ResellError) as caught:
        list(remote.rows("client.list", {}))
    assert "http://api.test" in caught.value.message
    remote, _ = mock_remote([cut_response("csv")])
    with pytest.raises(ResellError):
        remote.copy("client.list", {}, "csv", io.StringIO())


@pytest.mark.parametrize("fmt", ["csv", "table"])
def test_a_list_cut_mid_stream_through_the_cli(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path, fmt: str) -> None:
    """The CLI says what happened (exit 75, the URL) instead of an internal error."""
    from resellctl.remote import client

    def transport() -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/settings"):
                return httpx.Response(200, json={"currency": "USD"})
            return cut_response("csv" if request.headers.get("Accept") == "text/csv"
                                else "ndjson")
        return httpx.MockTransport(handler)

    original = client.Remote.__init__

    def init(self, url, token, *, transport_=None):  # noqa: ANN001, ANN202
        original(self, url, token, transport=transport())

    monkeypatch.setattr(client.Remote, "__init__", init)
    env = clean_env(tmp_path / "c.toml")
    env.update(RESELLCTL_URL="http://api.test", RESELLCTL_TOKEN="rsl_" + "t" * 43)
    result = invoke(("client", "list", "-o", fmt), env)
    assert "Traceback" not in result.stderr
    assert result.exit_code == 75, (result.stdout, result.stderr)
    assert "http://api.test" in result.stderr


# ---------------------------------------------------------------- 5. no SQLAlchemy


IMPORT_PROBE = """
import json, sys
from resellctl.cli.main import app
seen = {}
for argv in json.loads(sys.argv[1]):
    try:
        app(argv, prog_name="resellctl")
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    heavy = sorted(m for m in sys.modules
                   if m.split(".")[0] in ("sqlalchemy", "sqlmodel", "psycopg", "alembic"))
    seen[" ".join(argv)] = {"exit": code, "heavy": heavy}
sys.stdout.flush()
print("\\nPROBE " + json.dumps(seen))
"""


def test_a_remote_command_imports_no_store_library(world: World) -> None:
    argvs = [["whoami"], ["client", "list", "-o", "csv"], ["report", "dashboard", "-o", "json"]]
    env = proc_env(world.folder / "probe.toml", RESELLCTL_URL=world.base,
                   RESELLCTL_TOKEN=world.tokens[ADMIN])
    done = subprocess.run([sys.executable, "-c", IMPORT_PROBE, json.dumps(argvs)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.rsplit("PROBE ", 1)[1])
    for argv in argvs:
        assert probe[" ".join(argv)] == {"exit": 0, "heavy": []}, (argv, probe)


# ---------------------------------------------------------------- 6. streaming


def generated_csv(path: Path, rows: int, prefix: str) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "owner_name", "owner_email", "location", "external_id"])
        for i in range(rows):
            writer.writerow([f"{prefix} Company {i:06d}", f"Owner {i}",
                             f"owner{i}@{prefix.lower()}.example",
                             f"City, \"{i % 97}\"" if i % 5 == 0 else f"City {i % 13}",
                             f"{prefix}-{i:06d}"])
    return path


def test_streamed_lists_and_monthly_export_byte_for_byte(world: World) -> None:
    slug = "bulk" + uuid.uuid4().hex[:4]
    world.ok("reseller", "create", "--slug", slug, "--name", "Bulk", "--owner", ANA,
             "--licenses", "2100")
    path = generated_csv(world.folder / f"{slug}.csv", 2000, slug.title())
    imported = world.local("client", "import", str(path), "-r", slug, "-o", "json")
    assert imported.exit_code == 0, imported.stderr
    for fmt in ("csv", "ndjson"):
        local, remote = world.both("client", "list", "-r", slug, "-o", fmt)
        assert local.exit_code == 0, local.stderr
        assert local.stdout.count("\n") >= 2000
        assert remote.stdout == local.stdout, fmt
        same(local, remote, fmt)
    local, remote = world.both("client", "list", "-r", slug, "--sort", "-name", "--limit",
                               "1500", "--offset", "7", "-o", "csv")
    same(local, remote, "sorted page")
    for extra in ((), ("-r", slug)):
        local, remote = world.both("report", "monthly", "--month", MONTH, *extra, "-o", "csv")
        assert local.exit_code == 0, local.stderr
        assert local.stdout.count("\n") >= 2
        same(local, remote, f"monthly {extra}")


# ---------------------------------------------------------------- 7. a big import


def peak_rss_kb(proc: subprocess.Popen) -> int:
    """VmHWM of a running process, polled until it ends (the last value read)."""
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    return peak


@pytest.mark.slow
def test_a_100k_row_import_through_the_api(world: World) -> None:
    rows = 100_000
    slugs = {side: side[:3] + uuid.uuid4().hex[:5] for side in ("remote", "local")}
    for slug in slugs.values():
        world.ok("reseller", "create", "--slug", slug, "--name", slug.title(), "--owner",
                 ANA, "--licenses", "1")
        world.ok("license", "grant", slug, str(rows))
    path = generated_csv(world.folder / "big.csv", rows, "Big")
    env = proc_env(world.folder / "big.toml", RESELLCTL_URL=world.base,
                   RESELLCTL_TOKEN=world.tokens[ADMIN])
    out, err = world.folder / "big.out", world.folder / "big.err"
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen([str(BIN), "client", "import", str(path), "-r",
                                 slugs["remote"], "-o", "json"],
                                env=env, stdout=o, stderr=e, stdin=subprocess.DEVNULL)
        holder: dict[str, int] = {}
        poller = threading.Thread(target=lambda: holder.update(peak=peak_rss_kb(proc)))
        poller.start()
        try:
            proc.wait(timeout=900)
        finally:
            if proc.poll() is None:
                proc.kill()
            poller.join()
    assert proc.returncode == 0, (out.read_text()[-2000:], err.read_text()[-2000:])
    remote_summary = json.loads(out.read_text())
    assert remote_summary["reseller"] == slugs["remote"]
    # the same summary as a local import (its shape from a local run of the first rows)
    small = world.folder / "big-head.csv"
    small.write_text("".join(path.open(encoding="utf-8").readlines()[:11]), encoding="utf-8")
    local = world.local("client", "import", str(small), "-r", slugs["local"], "-o", "json")
    assert local.exit_code == 0, local.stderr
    local_summary = json.loads(local.stdout)
    assert set(remote_summary) == set(local_summary)
    expected = {"created": rows, "updated": 0, "skipped": 0, "failed": 0, "dry_run": False,
                "errors": []}
    assert {k: remote_summary[k] for k in expected} == expected, remote_summary
    assert {k: local_summary[k] for k in expected} == {**expected, "created": 10}
    assert world.ok("license", "show", slugs["remote"])["license_used"] == rows
    listed = world.remote("client", "list", "-r", slugs["remote"], "--search", "Big-099999",
                          "-o", "json")
    assert [c["name"] for c in json.loads(listed.stdout)] == ["Big Company 099999"]
    assert 0 < holder["peak"] < 150 * 1024, f"peak RSS {holder['peak']} kB"


def test_certificates_come_from_the_system_store_and_ssl_cert_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """https is checked against the system's trust store, or SSL_CERT_FILE when set; an
    unreadable SSL_CERT_FILE is a clear exit 5, not a crash."""
    from resellctl.domain.errors import Invalid
    from resellctl.remote.client import trust

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    assert trust().verify_mode.name == "CERT_REQUIRED"
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(Invalid, match="SSL_CERT_FILE"):
        trust()
