"""Remote profiles against local ones (issue 19), on the same store in the same run.

    remote `client show UID -o json`   <= 0.8 x local `client show` (wall, fresh processes)
    remote `client import` 100k rows   >= 50% of the local rows/s

The store is created with `resellctl init` (SQLite, or PostgreSQL with --backend
postgresql: a throw-away database on RESELLCTL_TEST_DATABASE_URL's server), a
super-admin token with `resellctl token create`, and `resellctl serve --workers 2`
runs beside it. Local commands get RESELLCTL_DATABASE_URL and the actor from the
profile `init` wrote; remote ones RESELLCTL_URL and RESELLCTL_TOKEN.

    .venv/bin/python bench/remote.py                       # SQLite, 15 show runs, 3 imports
    .venv/bin/python bench/remote.py --backend postgresql --runs 15 --imports 3 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import BenchError, BenchStore, bench_env, entry_point, free_port, run

ROWS = 100_000


def cli(env: dict, *args: str) -> str:
    return run([entry_point(), *args], env).stdout


def start_server(env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([entry_point(), "serve", "--port", str(port), "--workers", "2"],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    if not line.startswith("Listening on"):
        proc.kill()
        raise BenchError(f"serve did not start: {line}{proc.stderr.read()}")
    import httpx

    for _ in range(100):  # the workers are up when /healthz answers
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    # the access log goes to a pipe nobody reads: drain it so the server never blocks
    import threading

    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc


def write_csv(path: Path, tag: str) -> None:
    with path.open("w") as out:
        out.write("name,owner_name,owner_email,stage,seats\n")
        for i in range(ROWS):  # noqa: B020
            out.write(f"Company {tag} {i},Owner {i},owner{i}@{tag}.example,lead,{i % 50}\n")


def measure(backend: str, runs: int, imports: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="resellctl-bench-remote-") as tmp:
        with BenchStore(backend, Path(tmp), "remote") as url:
            return _measure(url, Path(tmp), runs, imports)


def _measure(url: str, workdir: Path, runs: int, imports: int) -> dict:
    local = bench_env(workdir, url)
    cli(local, "init", "--admin-email", "bench@example.com")
    token = json.loads(cli(local, "token", "create", "-o", "json"))["token"]
    cli(local, "reseller", "create", "--slug", "acme", "--name", "Acme", "--owner",
        "bench@example.com", "--licenses", "10")
    uid = json.loads(cli(local, "client", "create", "-r", "acme", "--name", "Bakery",
                         "--owner-name", "Li", "--owner-email", "li@b.example",
                         "-o", "json"))["uid"]
    port = free_port()
    server = start_server(local, port)
    remote = {k: v for k, v in local.items() if k != "RESELLCTL_DATABASE_URL"}
    remote.update(RESELLCTL_URL=f"http://127.0.0.1:{port}", RESELLCTL_TOKEN=token)
    try:
        show = {"local": [], "remote": []}
        for _ in range(2):  # warm-up
            for env in (local, remote):
                run([entry_point(), "client", "show", uid, "-o", "json"], env)
        for _ in range(runs):  # round robin
            for side, env in (("local", local), ("remote", remote)):
                sample = run([entry_point(), "client", "show", uid, "-o", "json"], env)
                show[side].append(sample.wall)
        if json.loads(sample.stdout)["uid"] != uid:
            raise BenchError("remote client show returned another client")
        rate = {"local": [], "remote": []}
        for n in range(imports):
            for side, env in (("local", local), ("remote", remote)):
                slug = f"{side}-{n}-{uuid.uuid4().hex[:6]}"
                cli(local, "reseller", "create", "--slug", slug, "--name", slug, "--owner",
                    "bench@example.com", "--licenses", str(ROWS))
                path = workdir / f"{slug}.csv"
                write_csv(path, slug)
                sample = run([entry_point(), "client", "import", str(path), "-r", slug,
                              "-o", "json"], env)
                summary = json.loads(sample.stdout)
                if summary["created"] != ROWS:
                    raise BenchError(f"{side} import created {summary['created']}")
                rate[side].append(ROWS / sample.wall)
                path.unlink()
    finally:
        server.terminate()
        server.wait(15)
    med = {k: statistics.median(v) for k, v in show.items()}
    imp = {k: statistics.median(v) for k, v in rate.items()}
    return {"backend": url.split(":")[0], "runs": runs, "imports": imports,
            "loadavg": os.getloadavg()[0],
            "client_show_s": {k: round(v, 3) for k, v in med.items()},
            "client_show_samples": {k: [round(x, 3) for x in v] for k, v in show.items()},
            "show_ratio": round(med["remote"] / med["local"], 3),
            "import_rows_per_s": {k: round(v) for k, v in imp.items()},
            "import_samples": {k: [round(x) for x in v] for k, v in rate.items()},
            "import_ratio": round(imp["remote"] / imp["local"], 3)}


def markdown(results: list[dict]) -> str:
    lines = ["| store | local show (s) | remote show (s) | remote/local (≤ 0.8) "
             "| local import rows/s | remote import rows/s | remote/local (≥ 0.5) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r['backend']} | {r['client_show_s']['local']:.3f} "
                     f"| {r['client_show_s']['remote']:.3f} | {r['show_ratio']:.2f} "
                     f"| {r['import_rows_per_s']['local']:,} "
                     f"| {r['import_rows_per_s']['remote']:,} | {r['import_ratio']:.2f} |")
    return "\n".join(lines)


def main() -> int:
    global ROWS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"),
                        default="sqlite")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--imports", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000, help="rows per import")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ROWS = args.rows
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = [measure(b, args.runs, args.imports) for b in backends]
    print(json.dumps(results, indent=2) if args.json else markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
