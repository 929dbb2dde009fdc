"""The installed entry point and `python -m resellctl`, in real subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import resellctl

ADMIN = "admin@vendor.example"
HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "psycopg", "httpx")


def entry_point() -> str:
    script = Path(sys.executable).parent / "resellctl"
    if script.exists():
        return str(script)
    found = shutil.which("resellctl")
    assert found, "the resellctl console script is not installed"
    return found


COMMANDS = {"script": lambda: [entry_point()],
            "module": lambda: [sys.executable, "-m", "resellctl"]}


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESELLCTL_")}
    env.update({
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "RESELLCTL_CONFIG": str(tmp_path / "cfg" / "config.toml"),
        "NO_COLOR": "1",
    })
    env.update(extra)
    return env


def cli(how: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMANDS[how](), *args], env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("how", COMMANDS)
def test_version(how, tmp_path):
    result = cli(how, "--version", env=clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"resellctl {resellctl.__version__}\n"
    assert result.stderr == ""


@pytest.mark.parametrize("how", COMMANDS)
def test_help(how, tmp_path):
    result = cli(how, "--help", env=clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    for group in ("init", "whoami", "db", "context", "settings", "user", "audit"):
        assert group in result.stdout
    assert result.stderr == ""
    assert not (tmp_path / "cfg").exists()  # help touches no config


PROBE = """
import json, sys
sys.argv = ["resellctl", *{args!r}]
from resellctl.cli.main import app
try:
    app()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print(json.dumps({{"code": code, "heavy": heavy}}), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["user", "--help"], ["db", "--help"]])
def test_help_imports_no_heavy_modules(args, tmp_path):
    code = PROBE.format(args=args, heavy=set(HEAVY))
    result = subprocess.run([sys.executable, "-c", code], env=clean_env(tmp_path),
                            capture_output=True, text=True, timeout=60)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["code"] == 0
    assert report["heavy"] == []


def test_the_probe_would_see_a_heavy_import(tmp_path):
    """The check above can fail: a command that opens a store does import them."""
    code = PROBE.format(args=["--db", f"sqlite:///{tmp_path / 'none.db'}", "whoami"],
                        heavy=set(HEAVY))
    result = subprocess.run([sys.executable, "-c", code], env=clean_env(tmp_path),
                            capture_output=True, text=True, timeout=60)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["code"] == 75
    assert "sqlalchemy" in report["heavy"]


def test_init_and_whoami_round_trip(tmp_path):
    env = clean_env(tmp_path)
    init = cli("script", "init", "--admin-email", "Ops@Vendor.Example", "-o", "json", env=env)
    assert init.returncode == 0, init.stderr
    assert init.stderr == ""
    store = tmp_path / "xdg-data" / "resellctl" / "resellctl.db"
    body = json.loads(init.stdout)
    assert body["database_url"] == f"sqlite:///{store}"
    assert body["created_admin"] is True
    assert store.is_file()
    config = tmp_path / "cfg" / "config.toml"
    assert oct(config.stat().st_mode & 0o777) == "0o600"

    who = cli("module", "whoami", "-o", "json", env=env)
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout) == {"email": "ops@vendor.example", "name": None,
                                      "is_super_admin": True,
                                      "created_at": json.loads(who.stdout)["created_at"],
                                      "resellers": []}


def test_round_trip_with_an_explicit_store_url(empty_url, tmp_path):
    env = clean_env(tmp_path, RESELLCTL_DATABASE_URL=empty_url)
    init = cli("script", "init", "--admin-email", ADMIN, env=env)
    assert init.returncode == 0, init.stderr
    who = cli("script", "whoami", "-o", "json", env=env)
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["email"] == ADMIN


def test_internal_errors_in_a_real_process(tmp_path):
    """Exit 1, no traceback; --debug shows it."""
    code = ("import sys, resellctl.domain.users as u\n"
            "def boom(*a, **k): raise RuntimeError('kaboom')\n"
            "u.whoami = boom\n"
            "from resellctl.cli.main import run\n"
            "sys.argv = ['resellctl', *sys.argv[1:]]\n"
            "run()\n")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    env = clean_env(tmp_path, RESELLCTL_DATABASE_URL=url, RESELLCTL_ACTOR=ADMIN)
    assert cli("script", "init", "--admin-email", ADMIN, env=env).returncode == 0
    plain = subprocess.run([sys.executable, "-c", code, "whoami"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode == 1
    assert plain.stdout == ""
    assert "Traceback" not in plain.stderr
    assert plain.stderr.splitlines()[0].startswith("Error: internal error: RuntimeError: kaboom (")
    assert len(plain.stderr.splitlines()) == 1
    debug = subprocess.run([sys.executable, "-c", code, "--debug", "whoami"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
    assert "RuntimeError: kaboom" in debug.stderr


def _wait_until(predicate, timeout: float = 20.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the subprocess"
        time.sleep(0.02)


def test_ctrl_c_exits_130_quietly(empty_url, tmp_path):
    """SIGINT while a command waits on a lock held by the test: exit 130, no traceback."""
    from sqlalchemy import text

    from resellctl.store.engine import make_engine

    env = clean_env(tmp_path, RESELLCTL_DATABASE_URL=empty_url, RESELLCTL_ACTOR=ADMIN)
    assert cli("script", "init", "--admin-email", ADMIN, env=env).returncode == 0
    sqlite = empty_url.startswith("sqlite")
    if sqlite and not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to see when the subprocess has opened the store")
    engine = make_engine(empty_url)
    holder = engine.connect().execution_options(write=True)  # SQLite: BEGIN IMMEDIATE
    try:
        holder.begin()
        if not sqlite:
            holder.execute(text("LOCK TABLE user_account IN ACCESS EXCLUSIVE MODE"))
        proc = subprocess.Popen([entry_point(), "user", "create", "ana@partner.example"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            waiting = (lambda: _has_open(proc, "store.db")) if sqlite else \
                (lambda: _blocked_by(holder))
            _wait_until(lambda: proc.poll() is not None or waiting())
            assert proc.poll() is None, proc.communicate()
            proc.send_signal(signal.SIGINT)
            time.sleep(0.2)  # let the signal land before the lock goes
            holder.rollback()
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    finally:
        holder.close()
        engine.dispose()
    assert proc.returncode == 130, err
    assert out == ""
    assert "Traceback" not in err
    assert "Error" not in err
    # Interrupted before it committed: no user was created.
    assert cli("script", "user", "show", "ana@partner.example", env=env).returncode == 3


def _has_open(proc: subprocess.Popen, name: str) -> bool:
    """The subprocess has opened the store: it is past start-up, the write lock comes next."""
    try:
        return any(os.readlink(fd).endswith(name) for fd in Path(f"/proc/{proc.pid}/fd").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return False


def _blocked_by(holder) -> bool:  # noqa: ANN001
    """Some backend waits on a lock held by `holder` (the subprocess: nothing else runs here)."""
    from sqlalchemy import text

    holder.execute(text("SELECT pg_stat_clear_snapshot()"))  # fresh view inside the transaction
    return bool(holder.execute(text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))")).scalar())


SERVER = ("fastapi", "uvicorn", "starlette", "jinja2", "pydantic")


def test_only_serve_imports_the_server_stack(tmp_path):
    """FastAPI, uvicorn and Jinja2 are `serve`'s alone: a local command that opens the
    store (here `whoami` after `init`) starts as fast as before they existed."""
    env = clean_env(tmp_path)
    init = cli("script", "init", "--admin-email", "ops@vendor.example", "-o", "json", env=env)
    assert init.returncode == 0, init.stderr
    for args in (["whoami"], ["client", "list", "-o", "csv"], ["token", "list"]):
        code = PROBE.format(args=args, heavy=set(SERVER))
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, timeout=60)
        report = json.loads(result.stderr.strip().splitlines()[-1])
        assert report == {"code": 0, "heavy": []}, (args, report)
