"""`resellctl serve` as a real process (the installed entry point), on SQLite and PostgreSQL:
it listens and says so, answers /healthz, finishes a request in flight on SIGTERM and
exits 0, refuses a store not at head with exit 75 before listening, logs one JSON line per
request without ever a token, and with `--workers 2` never sells an 11th licence of 10
to 24 simultaneous `POST /v1/clients` (HTTP.md).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import ADMIN
from helpers import ok
from test_client_concurrency import BIN, cli_env

STARTUP_S = 30
LOG_KEYS = {"time", "method", "path", "status", "duration_ms", "actor"}


# ---------------------------------------------------------------- a server process


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A `resellctl serve` subprocess whose stderr goes to a file (read at any time)."""

    def __init__(self, store_url: str, tmp_path: Path, *args: str,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.err_path = tmp_path / f"serve-{self.port}.err"
        self.out_path = tmp_path / f"serve-{self.port}.out"
        assert BIN.exists(), f"the installed entry point is missing: {BIN}"
        with self.err_path.open("w") as err, self.out_path.open("w") as out:
            self.proc = subprocess.Popen(
                [str(BIN), "serve", "--port", str(self.port), *args],
                env=cli_env(store_url, tmp_path), stdout=out, stderr=err,
                stdin=subprocess.DEVNULL)

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()

    def wait_listening(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if f"Listening on http://127.0.0.1:{self.port}\n" in self.stderr:
                return
            if self.proc.poll() is not None:
                pytest.fail(f"serve exited {self.proc.returncode} before listening: "
                            f"{self.stderr}")
            time.sleep(0.05)
        pytest.fail(f"serve did not say `Listening on` within {STARTUP_S} s: {self.stderr}")

    def stop(self, timeout: float = 10, sig: int = signal.SIGTERM) -> int:
        """SIGTERM (or `sig`), then the exit code (it must come within `timeout` seconds)."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve still running {timeout} s after SIGTERM: {self.stderr}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_lines(self) -> list[dict]:
        """The access log: every stderr line but the `Listening on` one, each JSON."""
        lines = self.stderr.splitlines()
        assert lines[0] == f"Listening on http://127.0.0.1:{self.port}", lines
        parsed = []
        for line in lines[1:]:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                pytest.fail(f"a stderr line that is not JSON: {line!r}\n{self.stderr}")
        return parsed


def refusing(port: int, within: float) -> bool:
    """Whether connections to the port are refused (nothing listens) within `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.05)
    return False


@pytest.fixture
def serve(store_url: str, tmp_path: Path):  # noqa: ANN201
    """`serve(*args)` starts a server on the test's store and waits until it listens;
    every server still running at the end is killed."""
    started: list[Server] = []

    def start(*args: str) -> Server:
        server = Server(store_url, tmp_path, *args)
        started.append(server)
        server.wait_listening()
        return server

    yield start
    for server in started:
        server.kill()


def api_token(run) -> str:  # noqa: ANN001
    return ok(run("token", "create", "--name", "tests", "-o", "json"))["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client_body(reseller: str, i: int) -> dict:
    return {"reseller": reseller, "name": f"Company {i}", "owner_name": f"Owner {i}",
            "owner_email": f"owner{i}@clients.example"}


# ---------------------------------------------------------------- start, health, stop


def test_listens_answers_healthz_and_exits_0_on_ctrl_c(serve, run) -> None:  # noqa: ANN001
    import httpx

    server = serve()
    response = httpx.get(f"{server.base}/healthz", timeout=10)
    assert response.status_code == 200
    head = ok(run("db", "status", "-o", "json"))["head"]
    assert response.json() == {"status": "ok", "revision": head}
    assert re.fullmatch(r"\d{4}", head)
    assert server.stdout == ""
    assert server.stop(sig=signal.SIGINT) == 0, server.stderr  # Ctrl-C: exit 0 as well
    assert "Traceback" not in server.stderr


def test_sigterm_finishes_the_request_in_flight_and_exits_0(serve, run) -> None:  # noqa: ANN001
    """A POST whose body is still arriving when SIGTERM comes: it completes (201, the
    client exists), new connections are refused meanwhile, and serve exits 0 in < 10 s."""
    import httpx

    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", ADMIN,
           "--licenses", "5", "-o", "json"))
    server = serve()
    token = api_token(run)
    # `Listening on` comes as the socket listens, before the worker has imported the app:
    # one answered request first, so that SIGTERM reaches a server that is serving
    assert httpx.get(f"{server.base}/healthz", timeout=30).status_code == 200
    body = json.dumps(client_body("acme", 1)).encode()
    first_sent = threading.Event()
    outcome: dict = {}

    def slow_body():  # noqa: ANN202
        yield body[:10]
        first_sent.set()
        time.sleep(2.0)
        yield body[10:]

    def post() -> None:
        try:
            outcome["response"] = httpx.post(
                f"{server.base}/v1/clients", content=slow_body(), timeout=20,
                headers={**bearer(token), "Content-Type": "application/json"})
        except Exception as exc:  # noqa: BLE001
            outcome["error"] = exc

    thread = threading.Thread(target=post)
    thread.start()
    assert first_sent.wait(10)
    time.sleep(1.0)  # the server has the request line and headers: the request is in flight
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert refusing(server.port, within=5), "still accepting connections after SIGTERM"
    thread.join(20)
    assert "error" not in outcome, outcome
    response = outcome["response"]
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Company 1"
    try:
        code = server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve still running 10 s after SIGTERM: {server.stderr}")
    assert code == 0, server.stderr
    assert time.monotonic() - started < 10
    assert [c["name"] for c in ok(run("client", "list", "-r", "acme", "-o", "json"))] == [
        "Company 1"]
    assert [(e["method"], e["path"], e["status"]) for e in server.log_lines()] == [
        ("GET", "/healthz", 200), ("POST", "/v1/clients", 201)]


def test_a_store_not_at_head_exits_75_before_listening(empty_url: str,
                                                       tmp_path: Path) -> None:
    """An empty SQLite file, or an empty PostgreSQL schema: exit 75 with an `Error:` line,
    and nothing ever listened."""
    if empty_url.startswith("sqlite:///"):
        Path(empty_url[len("sqlite:///"):]).touch()
    port = free_port()
    proc = subprocess.run([str(BIN), "serve", "--port", str(port)],
                          env=cli_env(empty_url, tmp_path), capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 75, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert "Listening on" not in proc.stderr
    assert re.search(r"^Error: .+", proc.stderr, re.M), proc.stderr
    with socket.socket() as sock:  # nothing is left listening on the port
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_a_port_in_use_is_refused_with_an_error(store_url: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([str(BIN), "serve", "--port", str(port)],
                              env=cli_env(store_url, tmp_path), capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 75, (proc.returncode, proc.stderr)
    assert "Listening on" not in proc.stderr
    assert re.search(rf"^Error: .*{port}", proc.stderr, re.M), proc.stderr


# ---------------------------------------------------------------- the access log


def test_access_log_one_json_line_per_request_and_never_a_token(serve, run) -> None:  # noqa: ANN001
    import httpx

    ok(run("reseller", "create", "--slug", "a", "--name", "A", "--owner", ADMIN,
           "--licenses", "3", "-o", "json"))
    ok(run("reseller", "create", "--slug", "b", "--name", "B", "--owner", ADMIN,
           "--licenses", "3", "-o", "json"))
    uid = ok(run("client", "create", "-r", "a", "--name", "Bakery", "--owner-name", "Li",
                 "--owner-email", ADMIN, "-o", "json"))["uid"]
    approval = ok(run("approval", "create", uid, "-r", "b", "-o", "json"))["url"]
    link = approval.rsplit("/", 1)[1]
    session = ok(run("support", "open", uid, "--reason", "ticket 1", "-o", "json"))["url"]
    support_link = session.rsplit("/", 1)[1]
    token = api_token(run)
    secrets = {"api token": token, "approval link": link, "support link": support_link}

    server = serve()
    base = server.base
    requests = [  # (method, url, kwargs, logged path, status, actor)
        ("GET", "/healthz", {}, "/healthz", 200, None),
        ("GET", "/v1/whoami", {"headers": bearer(token)}, "/v1/whoami", 200, ADMIN),
        ("GET", "/v1/clients?search=Bak&limit=5", {"headers": bearer(token)},
         "/v1/clients", 200, ADMIN),
        ("GET", f"/v1/whoami?token={token}", {}, "/v1/whoami", 401, None),
        ("GET", f"/v1/whoami?access_token={token}", {"headers": bearer("rsl_wrong")},
         "/v1/whoami", 401, None),
        ("GET", f"/approve/{link}", {}, "/approve/{token}", 200, None),
        ("GET", f"/approve/{link}?t={token}", {}, "/approve/{token}", 200, None),
        ("POST", f"/approve/{link}", {"data": {"decision": "approve",
                                               "admin_email": "nobody@x.example"}},
         "/approve/{token}", 403, None),
        ("GET", f"/branding/{link}.css", {}, "/branding/{token}", 200, None),
        ("GET", f"/support/{support_link}", {}, "/support/{token}", 200, None),
        ("GET", "/approve/not-a-real-link", {}, "/approve/{token}", 404, None),
        ("POST", "/v1/approvals/accept", {"headers": bearer(token),
                                          "json": {"token": link, "admin_email": "x@y.z"}},
         "/v1/approvals/accept", None, ADMIN),
        ("GET", "/v1/nowhere", {"headers": bearer(token)}, "/v1/nowhere", 404, None),
    ]
    with httpx.Client(base_url=base, timeout=10) as http:
        for method, url, kwargs, _, status, _ in requests:
            response = http.request(method, url, **kwargs)
            if status is not None:
                assert response.status_code == status, (url, response.text)
    assert server.stop() == 0
    lines = server.log_lines()
    assert len(lines) == len(requests), lines
    for line, (method, _, _, path, status, actor) in zip(lines, requests, strict=True):
        assert set(line) == LOG_KEYS, line
        assert (line["method"], line["path"]) == (method, path)
        if status is not None:
            assert line["status"] == status, line
        assert line["actor"] == actor, line
        assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", line["time"]), line
    everything = server.stderr + server.stdout
    for what, secret in secrets.items():
        assert secret not in everything, f"the {what} appears in serve's output"
        assert secret[:16] not in everything, f"part of the {what} appears in serve's output"


# ---------------------------------------------------------------- licences under load


@pytest.mark.slow
def test_24_concurrent_creates_against_10_free_licences_with_2_workers(  # noqa: ANN001
        serve, run, store_url: str) -> None:
    """THE proof: two worker processes, 24 clients released at once by a barrier, each
    its own connection; exactly 10 get a licence, 14 are refused with exit code 7."""
    import httpx

    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", ADMIN,
           "--licenses", "10", "-o", "json"))
    token = api_token(run)
    server = serve("--workers", "2")
    n = 24
    barrier = threading.Barrier(n, timeout=60)
    results: list = [None] * n

    def create(i: int) -> None:
        with httpx.Client(base_url=server.base, headers=bearer(token), timeout=60) as http:
            try:
                assert http.get("/healthz").status_code == 200  # connected before the race
                barrier.wait()
                response = http.post("/v1/clients", json=client_body("acme", i))
                results[i] = (response.status_code, response.json())
            except Exception as exc:  # noqa: BLE001
                results[i] = ("error", repr(exc))
                barrier.abort()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(r is not None and r[0] != "error" for r in results), results
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 10, 409: 14}, results
    for status, body in results:
        if status == 409:
            assert set(body) == {"error"}, body
            assert body["error"]["exit_code"] == 7, body
            assert isinstance(body["error"]["code"], str) and body["error"]["message"]
    assert server.stop() == 0, server.stderr
    assert [e["status"] for e in server.log_lines()].count(201) == 10

    licences = ok(run("license", "show", "acme", "-o", "json"))
    assert licences["license_used"] == 10 and licences["license_available"] == 0, licences
    listed = ok(run("client", "list", "-r", "acme", "--include-deleted", "-o", "json"))
    assert len(listed) == 10, listed
    created = {body["uid"] for status, body in results if status == 201}
    assert {c["uid"] for c in listed} == created
    assert ok(run("reseller", "show", "acme", "-o", "json"))["client_count"] == 10
