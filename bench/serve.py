"""`resellctl serve` benchmark: authenticated API requests per second over loopback.

All in one run, per store (SQLite and PostgreSQL):

    1. a fresh store (SQLite: a temporary file; PostgreSQL: a fresh database
       `resellctl_bench_serve_<pid>`, dropped at the end) made with `resellctl init`,
       a super admin's token (`resellctl token create -o json`), a reseller with
       --licences licences (default 1,000,000) and --clients clients (default 200,
       `resellctl client import`);
    2. `resellctl serve --workers 2 --port <free>` as a subprocess (its access log, one
       JSON line per request, to a file), ready when it printed `Listening on` and
       `/healthz` answers 200;
    3. the same-run baseline: a bare FastAPI app (`GET /bare` returns a constant JSON
       object, `POST /bare` takes a JSON object and returns it with 201), no
       middleware, no database, run by the very function that runs `serve`
       (resellctl.cli.serve._run: the same uvicorn settings and worker count);
    4. per round (--runs, default 5), interleaved so that background load hits all
       alike, each case a --warmup second run (default 1, not counted) then a
       --duration second run (default 5) with --connections keep-alive connections
       (default 8): `GET /bare`, `GET /v1/clients/{uid}` (the seeded clients in
       turn), `POST /bare`, `POST /v1/clients` (unique names and e-mails; checked
       afterwards against the clients the store holds).

The load generator is `wrk` (Debian's package) with a Lua script for the token and the
bodies, one thread; without it, a Python asyncio raw-socket keep-alive client. The
CPU time of the load generator, of the server's processes and of PostgreSQL's backends
is measured per run (from /proc and os.wait4) and printed as shares of the machine.

Usage (from the project root, with the project installed in .venv):

    .venv/bin/python bench/serve.py                          # both stores, markdown
    .venv/bin/python bench/serve.py --backend sqlite --runs 3 --duration 2 --json

Targets (issue 18): 8 clients, `serve --workers 2`, on both stores: GET
/v1/clients/{uid} >= 1,000 requests/s with p99 <= 50 ms and 0 errors; POST /v1/clients
>= 300 requests/s. Each is also shown as a ratio against the bare route. PostgreSQL
comes from RESELLCTL_TEST_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/postgres). The exit code is non-zero only when a
command fails or a check finds a wrong figure, never because a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    BenchError,
    BenchStore,
    bench_env,
    cpu_probe,
    entry_point,
    free_port,
    pg_reachable,
    run,
)

ADMIN = "bench@vendor.example"
OWNER = "owner@bench.example"
RESELLER = "bench"
HOST = "127.0.0.1"
CASES = ("bare_get", "get", "bare_post", "post")
LABELS = {"bare_get": "`GET /bare` (bare FastAPI)",
          "get": "`GET /v1/clients/{uid}`",
          "bare_post": "`POST /bare` (bare FastAPI)",
          "post": "`POST /v1/clients`"}
BASELINE = {"get": "bare_get", "post": "bare_post"}
TARGET_RPS = {"get": 1000, "post": 300}
TARGET_P99_MS = {"get": 50.0}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the bare app

def bare_app():  # noqa: ANN201 - uvicorn's factory in the bare server's workers
    """The framework's floor: one constant JSON answer, no middleware, no database."""
    from typing import Any

    from fastapi import Body, FastAPI

    app = FastAPI()
    constant = {"status": "ok", "uid": "cl_0123456789abcdef", "name": "Bare"}

    @app.get("/bare")
    def get_bare() -> dict:
        return constant

    @app.post("/bare", status_code=201)
    def post_bare(payload: dict[str, Any] = Body(...)) -> dict:
        return payload

    return app


def bare_server(port: int, workers: int) -> None:
    """`python bench/serve.py --bare-server PORT`: the bare app, run exactly as `serve`
    runs resellctl's (resellctl.cli.serve._run), on a socket bound the same way."""
    from resellctl.cli import serve as cli_serve

    cli_serve.APP = "serve:bare_app"
    sock = cli_serve._listen(HOST, port)
    sys.stderr.write(f"Listening on http://{HOST}:{port}\n")
    sys.stderr.flush()
    cli_serve._run(sock, workers)


# ---------------------------------------------------------------- stores

def seed(exe: str, env: dict[str, str], tmp: Path, clients: int, licences: int) -> dict:
    """The store's super admin, its token, a reseller with licences and clients."""
    run([exe, "init", "--admin-email", ADMIN, "--admin-name", "Bench Admin"], env)
    token = json.loads(run([exe, "token", "create", "--name", "bench", "--expires-in",
                            "never", "-o", "json"], env).stdout)["token"]
    run([exe, "user", "create", OWNER, "-o", "json"], env)
    run([exe, "reseller", "create", "--slug", RESELLER, "--name", "Bench Reseller",
         "--owner", OWNER, "--licenses", str(licences), "-o", "json"], env)
    csv = tmp / "clients.csv"
    csv.write_text("name,owner_name,owner_email\n" + "".join(
        f"Seed {i},Owner {i},seed{i}@client.example\n" for i in range(clients)))
    run([exe, "client", "import", str(csv), "--reseller", RESELLER, "-o", "json"], env)
    listed = json.loads(run([exe, "client", "list", "--reseller", RESELLER, "--limit",
                             str(clients), "-o", "json"], env).stdout)
    uids = [row["uid"] for row in listed]
    if len(uids) != clients:
        raise BenchError(f"seeded {clients} clients, `client list` shows {len(uids)}")
    return {"token": token, "uids": uids}


def client_count(exe: str, env: dict[str, str]) -> int:
    """The reseller's clients, by the licences they took (one each)."""
    shown = json.loads(run([exe, "reseller", "show", RESELLER, "-o", "json"], env).stdout)
    return int(shown["license_used"])


# ---------------------------------------------------------------- servers

class Server:
    """A server subprocess (its own process group), ready when its stderr says
    `Listening on` and GET `probe` answers 200; stopped with SIGTERM."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, probe: str,
                 headers: dict[str, str] | None = None) -> None:
        self.argv, self.env, self.log, self.probe = argv, env, log, probe
        self.headers = headers or {}
        self.port = free_port(HOST)

    def __enter__(self) -> Server:
        self.log_file = open(self.log, "wb")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(self.argv + ["--port", str(self.port)], env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log_file, start_new_session=True)
        deadline = time.monotonic() + 60
        while b"Listening on" not in self.log.read_bytes():
            self._alive_until(deadline)
            time.sleep(0.05)
        while not self._probe_ok():
            self._alive_until(deadline)
            time.sleep(0.1)
        for _ in range(20):  # every worker up: each answers at least once
            self._probe_ok()
        return self

    def _alive_until(self, deadline: float) -> None:
        if self.proc.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"`{' '.join(self.argv[-4:])}` did not start: "
                             f"{self.log.read_bytes().decode(errors='replace')[-2000:]}")

    def _probe_ok(self) -> bool:
        try:
            conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
            conn.request("GET", self.probe, headers=self.headers)
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its worker processes so far."""
        return sum(_cpu(pid) for pid in [self.proc.pid, *_children(self.proc.pid)])

    def __exit__(self, *exc: object) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log_file.close()


def _stat(pid: int | str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from `state` on


def _cpu(pid: int | str) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS if fields else 0.0


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(entry)) and int(fields[1]) == parent:
            found.append(int(entry))
    return found


def postgres_cpu() -> dict[str, float]:
    """CPU so far of every process named `postgres` on this machine (the server and its
    backends), by pid."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        if comm == "postgres":
            found[entry] = _cpu(entry)
    return found


def postgres_cpu_since(before: dict[str, float]) -> float:
    """CPU used since `before` by the `postgres` processes alive now (a new backend counts
    whole; one that ended since is missed)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in postgres_cpu().items())


# ---------------------------------------------------------------- load generators

WRK_COMMON = """
local counter = 0
thread_id = 0
local token = ""
local prefix = ""
local requests_ = {}
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""

WRK_GET = WRK_COMMON + """
function init(args)
  token = args[1]
  local path = args[2]
  for line in io.lines(args[3]) do
    table.insert(requests_, wrk.format("GET", path:gsub("{uid}", line),
                                       {["Authorization"] = "Bearer " .. token}))
  end
end

function request()
  counter = counter + 1
  return requests_[(counter % #requests_) + 1]
end
"""

WRK_POST = WRK_COMMON + """
function init(args)
  token = args[1]
  prefix = args[2] .. "-" .. thread_id
end

function request()
  counter = counter + 1
  local id = prefix .. "-" .. counter
  local body = '{"reseller": "bench", "name": "Bench ' .. id .. '", ' ..
               '"owner_name": "Owner ' .. id .. '", ' ..
               '"owner_email": "o' .. id .. '@load.example"}'
  return wrk.format("POST", wrk.path, {["Authorization"] = "Bearer " .. token,
                                       ["Content-Type"] = "application/json"}, body)
end
"""


def wrk_run(port: int, case: str, seconds: float, connections: int, token: str,
            uid_file: Path, scripts: Path, prefix: str) -> dict:
    method = "GET" if case.endswith("get") else "POST"
    path = {"bare_get": "/bare", "get": "/v1/clients/{uid}", "bare_post": "/bare",
            "post": "/v1/clients"}[case]
    script = scripts / f"{method.lower()}.lua"
    url = f"http://{HOST}:{port}{'/' if method == 'GET' else path}"
    args = [token, path, str(uid_file)] if method == "GET" else [token, prefix]
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
            "-s", str(script), url, "--", *args]
    sample = run(argv)
    line = next((line for line in sample.stdout.splitlines() if line.startswith("WRK ")),
                None)
    if line is None:
        raise BenchError(f"wrk printed no summary: {sample.stdout[-2000:]}")
    raw = json.loads(line[4:])
    errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {"requests": raw["requests"], "seconds": raw["duration_us"] / 1e6,
            "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000, "errors": errors, "loadgen_cpu": sample.cpu}


def python_run(port: int, case: str, seconds: float, connections: int, token: str,
               uid_file: Path, prefix: str) -> dict:
    """The fallback: this file's own asyncio client, in a process of its own."""
    argv = [sys.executable, __file__, "--python-client", str(port), case, f"{seconds}",
            str(connections), str(uid_file), prefix]
    sample = run(argv, {**os.environ, "BENCH_TOKEN": token})
    result = json.loads(sample.stdout)
    result["loadgen_cpu"] = sample.cpu
    return result


def python_client(port: int, case: str, seconds: float, connections: int, uid_file: str,
                  prefix: str) -> None:
    """Keep-alive HTTP/1.1 over raw sockets: `connections` loops, each sending its next
    request when the previous answer is read whole (Content-Length bodies)."""
    token = os.environ["BENCH_TOKEN"]
    auth = f"Authorization: Bearer {token}\r\n"
    uids = Path(uid_file).read_text().split()
    counter = [0]

    def next_request() -> bytes:
        counter[0] += 1
        n = counter[0]
        if case == "bare_get":
            return f"GET /bare HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
        if case == "get":
            return (f"GET /v1/clients/{uids[n % len(uids)]} HTTP/1.1\r\nHost: {HOST}\r\n"
                    f"{auth}\r\n").encode()
        ident = f"{prefix}-{n}"
        body = json.dumps({"reseller": RESELLER, "name": f"Bench {ident}",
                           "owner_name": f"Owner {ident}",
                           "owner_email": f"o{ident}@load.example"}).encode()
        path = "/bare" if case == "bare_post" else "/v1/clients"
        return (f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\n{auth}Content-Type: "
                f"application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

    latencies: list[float] = []
    errors = [0]

    async def loop(deadline: float) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                writer.write(next_request())
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split()[1])
                length = next((int(h.split(":", 1)[1]) for h in lines[1:]
                               if h.lower().startswith("content-length:")), 0)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                if not 200 <= status < 300:
                    errors[0] += 1
        except (OSError, asyncio.IncompleteReadError):
            errors[0] += 1
        finally:
            writer.close()

    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(loop(start + seconds) for _ in range(connections)))
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    print(json.dumps({"requests": len(latencies), "seconds": elapsed, "p50_ms": pct(50),
                      "p99_ms": pct(99), "max_ms": latencies[-1] * 1000,
                      "errors": errors[0]}))


# ---------------------------------------------------------------- one backend

def bench_backend(backend: str, args: argparse.Namespace, exe: str, loadgen: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="resellctl-bench-serve-") as name:
        tmp = Path(name)
        with BenchStore(backend, tmp, "serve") as url:
            env = bench_env(tmp, url)
            started = time.perf_counter()
            seeded = seed(exe, env, tmp, args.clients, args.licences)
            seed_s = time.perf_counter() - started
            uid_file = tmp / "uids.txt"
            uid_file.write_text("\n".join(seeded["uids"]) + "\n")
            scripts = tmp / "lua"
            scripts.mkdir()
            (scripts / "get.lua").write_text(WRK_GET)
            (scripts / "post.lua").write_text(WRK_POST)
            before = client_count(exe, env)
            bare_env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, (
                str(Path(__file__).resolve().parent), env.get("PYTHONPATH"))))}
            auth = {"Authorization": f"Bearer {seeded['token']}"}
            serve_argv = [exe, "serve", "--workers", str(args.workers)]
            bare_argv = [sys.executable, __file__, "--workers", str(args.workers),
                         "--bare-server"]
            with Server(serve_argv, env, tmp / "serve.log", "/v1/whoami", auth) as server, \
                    Server(bare_argv, bare_env, tmp / "bare.log", "/bare") as bare:
                samples: dict[str, list[dict]] = {case: [] for case in CASES}
                posted = 0
                for round_ in range(args.runs):
                    for case in CASES:
                        target = bare if case.startswith("bare") else server
                        prefix = f"r{round_}{case}"
                        if args.warmup > 0:
                            warm = drive(loadgen, target.port, case, args.warmup, args,
                                         seeded["token"], uid_file, scripts, prefix + "w")
                            posted += warm["requests"] if case == "post" else 0
                        cpu0, pg0 = target.cpu_seconds(), postgres_cpu()
                        load0 = os.getloadavg()[0]
                        sample = drive(loadgen, target.port, case, args.duration, args,
                                       seeded["token"], uid_file, scripts, prefix)
                        sample["server_cpu"] = target.cpu_seconds() - cpu0
                        sample["postgres_cpu"] = postgres_cpu_since(pg0)
                        sample["load"] = [load0, os.getloadavg()[0]]
                        sample["rps"] = sample["requests"] / sample["seconds"]
                        sample["server_cpu_ms"] = (1000 * sample["server_cpu"]
                                                   / max(1, sample["requests"]))
                        posted += sample["requests"] if case == "post" else 0
                        samples[case].append(sample)
                        print(f"# {backend} round {round_ + 1} {case}: "
                              f"{sample['rps']:,.0f} req/s, p99 {sample['p99_ms']:.1f} ms, "
                              f"errors {sample['errors']}", file=sys.stderr)
                log_lines = sum(1 for _ in open(tmp / "serve.log", "rb"))
            created = client_count(exe, env) - before
            if created < posted:
                raise BenchError(f"{posted} POST /v1/clients answered, but the store holds "
                                 f"only {created} new clients")
            return {"backend": backend, "url": url.split("@")[-1], "seed_s": seed_s,
                    "samples": samples, "posted": posted, "created": created,
                    "access_log_lines": log_lines, "summary": summarise(samples)}


def drive(loadgen: str, port: int, case: str, seconds: float, args: argparse.Namespace,
          token: str, uid_file: Path, scripts: Path, prefix: str) -> dict:
    if loadgen == "wrk":
        return wrk_run(port, case, seconds, args.connections, token, uid_file, scripts,
                       prefix)
    return python_run(port, case, seconds, args.connections, token, uid_file, prefix)


def summarise(samples: dict[str, list[dict]]) -> dict:
    out = {}
    for case, rows in samples.items():
        med = {key: statistics.median(r[key] for r in rows) for key in (
            "rps", "p50_ms", "p99_ms", "server_cpu", "postgres_cpu", "loadgen_cpu",
            "seconds", "server_cpu_ms")}
        out[case] = {**med, "rps_min": min(r["rps"] for r in rows),
                     "rps_max": max(r["rps"] for r in rows),
                     "p99_max": max(r["p99_ms"] for r in rows),
                     "errors": sum(r["errors"] for r in rows),
                     "requests": sum(r["requests"] for r in rows),
                     "n": len(rows)}
        if case in BASELINE:  # per round, against the bare run of the same round
            ratios = [r["rps"] / b["rps"] for r, b in zip(rows, samples[BASELINE[case]],
                                                           strict=True)]
            out[case]["ratio"] = statistics.median(ratios)
    return out


# ---------------------------------------------------------------- report

def markdown(results: list[dict], meta: dict) -> str:
    cores = os.cpu_count() or 1
    lines = [f"serve benchmark: {meta['started']} → {meta['finished']} UTC, "
             f"load average {meta['load_before']} → {meta['load_after']}, "
             f"{meta['runs']} rounds × {meta['duration']:g} s (after {meta['warmup']:g} s "
             f"warm-up), {meta['connections']} connections, `serve --workers "
             f"{meta['workers']}`, load generator {meta['loadgen']}, CPU probe "
             f"{meta['probe_before']} / {meta['probe_after']} ms",
             "",
             "| store | request | requests/s (median; min–max) | p50 ms | p99 ms (median; "
             "max) | errors | vs bare | target | met | CPU: server / PostgreSQL / load "
             "generator | server CPU ms/request |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | ---: |"]
    for result in results:
        for case in CASES:
            s = result["summary"][case]
            ratio = f"{s['ratio']:.2f}" if "ratio" in s else "1"
            target, met = "", ""
            if case in TARGET_RPS:
                target = f"≥ {TARGET_RPS[case]:,}/s"
                ok = s["rps"] >= TARGET_RPS[case]
                if case in TARGET_P99_MS:
                    target += f", p99 ≤ {TARGET_P99_MS[case]:g} ms, 0 errors"
                    ok = ok and s["p99_ms"] <= TARGET_P99_MS[case] and s["errors"] == 0
                met = "yes" if ok else "**no**"
            share = "{:.0%} / {:.0%} / {:.0%}".format(
                *(s[k] / (s["seconds"] * cores) for k in ("server_cpu", "postgres_cpu",
                                                           "loadgen_cpu")))
            lines.append(f"| {result['backend']} | {LABELS[case]} | **{s['rps']:,.0f}** "
                         f"({s['rps_min']:,.0f}–{s['rps_max']:,.0f}) | {s['p50_ms']:.1f} | "
                         f"{s['p99_ms']:.1f} ({s['p99_max']:.1f}) | {s['errors']} | "
                         f"{ratio} | {target} | {met} | {share} | "
                         f"{s['server_cpu_ms']:.2f} |")
    lines.append("")
    lines.append(f"CPU shares are of the machine's {cores} cores over the measured seconds "
                 "(medians; PostgreSQL: every `postgres` process on the machine). Errors: "
                 "socket errors and answers >= 400, summed over the rounds. `vs bare`: the "
                 "median of each round's ratio to the bare route's run of the same round.")
    for result in results:
        for case in CASES:
            lines.append(f"{result['backend']} {LABELS[case]}, requests/s per round: " + ", ".join(
                f"{r['rps']:,.0f}" for r in result["samples"][case]) + "; p99 ms: " + ", ".join(
                f"{r['p99_ms']:.1f}" for r in result["samples"][case]) + ".")
    for result in results:
        lines.append(f"{result['backend']}: {result['posted']:,} clients posted (warm-ups "
                     f"included), {result['created']:,} in the store; "
                     f"{result['access_log_lines']:,} access-log lines; seeding "
                     f"{result['seed_s']:.1f} s.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"),
                        default="both")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--licences", type=int, default=1_000_000)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--json", action="store_true", help="also print the samples as JSON")
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--python-client", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server(args.port, args.workers)
        return 0
    if args.python_client:
        port, case, seconds, connections, uid_file, prefix = args.python_client
        python_client(int(port), case, float(seconds), int(connections), uid_file, prefix)
        return 0

    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"
    elif loadgen == "wrk" and not shutil.which("wrk"):
        raise BenchError("wrk is not installed (apt-get install wrk), or use --loadgen python")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and (why := pg_reachable()):
        if args.backend == "postgresql":
            raise BenchError(f"PostgreSQL unreachable: {why}")
        print(f"# PostgreSQL skipped: {why}", file=sys.stderr)
        backends.remove("postgresql")
    exe = entry_point()
    probe = cpu_probe()
    meta = {"started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            "probe_before": probe,
            "load_before": f"{os.getloadavg()[0]:.2f}", "runs": args.runs,
            "duration": args.duration, "warmup": args.warmup,
            "connections": args.connections, "workers": args.workers,
            "loadgen": "wrk (1 thread)" if loadgen == "wrk" else "Python asyncio client",
            "python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count()}
    results = [bench_backend(backend, args, exe, loadgen) for backend in backends]
    meta.update(finished=time.strftime("%H:%M:%S", time.gmtime()), probe_after=cpu_probe(),
                load_after=f"{os.getloadavg()[0]:.2f}")
    print(markdown(results, meta))
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench/serve.py: {error}", file=sys.stderr)
        sys.exit(1)
