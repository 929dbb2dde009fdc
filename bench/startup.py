"""Startup benchmark: how long `resellctl` takes before it does any work.

Measures the median wall time (ms) of fresh processes, all in one run:

    resellctl --help                      the root help (must not import the store stack)
    resellctl whoami                      one read on a small SQLite store (full stack)
    python -c "import typer"              the CLI framework alone
    python -c "import sqlmodel"           the store stack alone
    python -c "pass"                      the interpreter floor

and reports two ratios against their targets:

    help / import typer      <= 2.5
    whoami / import sqlmodel <= 1.3

Usage (from the project root, with the project installed in .venv):

    .venv/bin/python bench/startup.py            # 15 runs per command, markdown table
    .venv/bin/python bench/startup.py --runs 30 --json

It uses the interpreter that runs it (sys.executable) and the `resellctl`
entry point next to it. The exit code is non-zero only when a command fails
(a crash), never because a target is missed: timings vary between machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import bench_env

TARGETS = {
    "help_vs_import_typer": ("help", "import_typer", 2.5),
    "whoami_vs_import_sqlmodel": ("whoami", "import_sqlmodel", 1.3),
}
ORDER = ["python_pass", "import_typer", "import_sqlmodel", "help", "whoami"]


def commands(python: str, entry: str) -> dict[str, list[str]]:
    return {
        "python_pass": [python, "-c", "pass"],
        "import_typer": [python, "-c", "import typer"],
        "import_sqlmodel": [python, "-c", "import sqlmodel"],
        "help": [entry, "--help"],
        "whoami": [entry, "whoami"],
    }


def labels(entry_name: str) -> dict[str, str]:
    return {
        "python_pass": 'python -c "pass"',
        "import_typer": 'python -c "import typer"',
        "import_sqlmodel": 'python -c "import sqlmodel"',
        "help": f"{entry_name} --help",
        "whoami": f"{entry_name} whoami (SQLite)",
    }


class CommandFailed(RuntimeError):
    pass


def run_once(argv: list[str], env: dict[str, str]) -> float:
    """Wall time of one process, in milliseconds; raises CommandFailed on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise CommandFailed(f"`{' '.join(argv)}` exited {proc.returncode}: {err}")
    return elapsed


def prepare_store(entry: str, env: dict[str, str]) -> None:
    """Create the SQLite store and profile (actor) that `whoami` reads."""
    argv = [entry, "init", "--admin-email", "bench@example.com", "--admin-name", "Bench"]
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          check=False)
    if proc.returncode != 0:
        raise CommandFailed(f"`resellctl init` exited {proc.returncode}: "
                            f"{proc.stderr.decode(errors='replace').strip()}")


def measure(runs: int, warmup: int) -> dict:
    python = sys.executable
    load_before = _loadavg()
    entry = str(Path(python).parent / ("resellctl.exe" if os.name == "nt" else "resellctl"))
    if not Path(entry).exists():
        raise CommandFailed(f"no resellctl entry point next to {python}; "
                            "install the project first: .venv/bin/pip install -e .")
    with tempfile.TemporaryDirectory(prefix="resellctl-bench-") as tmp:
        env = bench_env(Path(tmp), f"sqlite:///{Path(tmp) / 'resellctl.db'}")
        prepare_store(entry, env)
        argvs = commands(python, entry)
        for _ in range(warmup):  # warm the page cache and .pyc files; not counted
            for name in ORDER:
                run_once(argvs[name], env)
        samples: dict[str, list[float]] = {name: [] for name in ORDER}
        for _ in range(runs):  # round-robin, so background noise hits every command alike
            for name in ORDER:
                samples[name].append(run_once(argvs[name], env))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {}
    for key, (num, den, target) in TARGETS.items():
        value = medians[num] / medians[den]
        ratios[key] = {"value": round(value, 3), "target": target, "met": value <= target}
    return {
        "runs": runs,
        "warmup": warmup,
        "python": platform.python_version(),
        "executable": python,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_1m": {"before": load_before, "after": _loadavg()},
        "median_ms": {name: round(medians[name], 1) for name in ORDER},
        "min_ms": {name: round(min(samples[name]), 1) for name in ORDER},
        "ratios": ratios,
    }


def _loadavg() -> float | None:
    """1-minute load average (other processes competing for the CPUs), where known."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def markdown(result: dict) -> str:
    names = labels("resellctl")
    lines = [
        f"Startup, median of {result['runs']} runs (after {result['warmup']} warm-up), "
        f"Python {result['python']}, {result['cpus']} CPUs, load average "
        f"{result['loadavg_1m']['before']} -> {result['loadavg_1m']['after']}",
        "",
        "| command | median (ms) | min (ms) |",
        "| --- | ---: | ---: |",
    ]
    for name in ORDER:
        lines.append(f"| `{names[name]}` | {result['median_ms'][name]:.1f} "
                     f"| {result['min_ms'][name]:.1f} |")
    lines += ["", "| ratio | value | target | met |", "| --- | ---: | ---: | --- |"]
    captions = {"help_vs_import_typer": "help / import typer",
                "whoami_vs_import_sqlmodel": "whoami / import sqlmodel"}
    for key, ratio in result["ratios"].items():
        lines.append(f"| {captions[key]} | {ratio['value']:.3f} | ≤ {ratio['target']} "
                     f"| {'yes' if ratio['met'] else 'no'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command (>= 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per command first")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = parser.parse_args(argv)
    if args.runs < 10:
        parser.error("--runs must be at least 10 for a meaningful median")
    try:
        result = measure(args.runs, max(args.warmup, 0))
    except CommandFailed as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
