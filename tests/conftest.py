"""Shared fixtures: isolated config/data dirs, a store per test on SQLite and PostgreSQL,
and `run(*args)` over typer.testing.CliRunner.

PostgreSQL comes from RESELLCTL_TEST_DATABASE_URL (default: the local server at
127.0.0.1:5432). Each test gets its own schema. Without a reachable server the
PostgreSQL cases skip with the reason; under CI=true they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.testing
from typer.testing import CliRunner

ADMIN = "admin@vendor.example"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ["sqlite", "postgres"]


def pg_base_url() -> str:
    return os.environ.get("RESELLCTL_TEST_DATABASE_URL", PG_DEFAULT)


_pg_state: dict[str, str | None] = {}


def pg_unavailable_reason() -> str | None:
    """None when PostgreSQL answers, else why not (checked once per session)."""
    if "reason" not in _pg_state:
        import psycopg

        try:
            with psycopg.connect(pg_base_url(), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _pg_state["reason"] = None
        except Exception as exc:  # noqa: BLE001
            _pg_state["reason"] = f"PostgreSQL unreachable at {pg_base_url()}: {exc}"
    return _pg_state["reason"]


def require_postgres() -> None:
    reason = pg_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the user's real config or data."""
    for key in list(os.environ):
        if key.startswith("RESELLCTL_") and key != "RESELLCTL_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("RESELLCTL_CONFIG", str(tmp_path / "config" / "config.toml"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def _pg_schema_url(schema: str) -> str:
    base = pg_base_url()
    sep = "&" if "?" in base else "?"
    # Durability is irrelevant to a test store: skipping the commit flush halves set-up time.
    return f"{base}{sep}options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"


@pytest.fixture
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty store (nothing created yet) on the parametrised backend."""
    with new_store_url(getattr(request, "param", "sqlite"), tmp_path) as url:
        yield url


@contextmanager
def new_store_url(backend: str, folder: Path) -> Iterator[str]:
    """URL of a store with nothing in it yet: a SQLite file in `folder`, or a PostgreSQL
    schema of its own (dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'store.db'}"
        return
    require_postgres()
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_base_url(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield _pg_schema_url(schema)
    finally:
        with psycopg.connect(pg_base_url(), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


_templates: dict[str, Path] = {}


def _init_store(url: str) -> None:
    from resellctl.domain import setup
    from resellctl.store.engine import Store

    store = Store(url, check_schema=False)
    setup.init(store, ADMIN, "Vendor Admin")
    store.dispose()


@pytest.fixture
def store_url(empty_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of an initialised store (schema at head, admin@vendor.example, default catalog)."""
    if empty_url.startswith("sqlite:///"):
        # Migrate once per session, then copy: same result, a fraction of the time.
        if "sqlite" not in _templates:
            template = tmp_path_factory.mktemp("template") / "store.db"
            _init_store(f"sqlite:///{template}")
            _templates["sqlite"] = template
        shutil.copy(_templates["sqlite"], empty_url[len("sqlite:///"):])
        return empty_url
    _init_store(empty_url)
    return empty_url


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses a store runs on SQLite and PostgreSQL."""
    if "empty_url" in metafunc.fixturenames:
        metafunc.parametrize("empty_url", BACKENDS, indirect=True)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self):  # noqa: ANN201
        return json.loads(self.stdout)


_built: dict[int, object] = {}
_build_command = typer.testing._get_command


def _command_once(app):  # noqa: ANN001, ANN202
    """Typer rebuilds the Click command on every invoke (~0.1 s with every group
    registered); the app does not change during a session, so build it once."""
    if id(app) not in _built:
        _built[id(app)] = _build_command(app)
    return _built[id(app)]


typer.testing._get_command = _command_once


class Runner:
    """`run(*args)`: invoke the real CLI in-process against the test's store."""

    def __init__(self, url: str | None, actor: str | None) -> None:
        self.url, self.actor = url, actor
        self.cli = CliRunner()

    def __call__(self, *args: str, actor: str | None = "default", input: str | None = None,
                 env: dict[str, str] | None = None) -> Result:
        from resellctl.cli.main import app

        full_env = {}
        if self.url:
            full_env["RESELLCTL_DATABASE_URL"] = self.url
        who = self.actor if actor == "default" else actor
        if who:
            full_env["RESELLCTL_ACTOR"] = who
        full_env.update(env or {})
        result = self.cli.invoke(app, [str(a) for a in args], input=input, env=full_env,
                                 catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def run(store_url: str) -> Runner:
    """Runs commands as the super admin on an initialised store."""
    return Runner(store_url, ADMIN)


@pytest.fixture
def bare_run() -> Runner:
    """Runs commands with no store or actor preset (set-up and config tests)."""
    return Runner(None, None)
