"""Prepared SQL (domain/queries.py → domain/prepared.py, run by store/engine.Reader):
current, the same rows as SQLAlchemy running the builders, no SQLAlchemy in a report's
process, and the same errors as every other command for a broken store."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import ADMIN, Runner
from hypothesis import given
from hypothesis import strategies as st


def test_prepared_py_is_current() -> None:
    from resellctl.domain import queries

    assert queries.TARGET.read_text(encoding="utf-8") == queries.render(), (
        "resellctl/domain/prepared.py is stale: run `python -m resellctl.domain.queries`")


def test_a_prepared_statement_refuses_an_in_list_of_values() -> None:
    from sqlalchemy import select

    from resellctl.domain import queries

    statement = select(queries.CLIENT.c.id).where(queries.CLIENT.c.stage.in_(["a", "b"]))
    with pytest.raises(ValueError, match="use OR"):
        queries.compiled(statement, "sqlite")


@pytest.fixture
def channel(run: Runner, store_url: str) -> str:
    """A store with the sample channel (every stage, interval and status; snapshots)."""
    from resellctl.domain import sample
    from resellctl.store.engine import Store

    store = Store(store_url)
    sample.generate(store, ADMIN)
    store.dispose()
    return store_url


def _params(name: str, member: tuple) -> dict:
    """Parameters for statement `name`: `member` is (reseller id, its slug, a member's
    user id)."""
    today = date.today()
    params: dict = {"email": ADMIN, "slug": member[1], "due_by": today + timedelta(30),
                    "first": today - timedelta(365), "last": today, "every": 2}
    if name.startswith("subscription_csv_part_"):  # from the NULL-less keys up to a day
        params.update(lo_0=0, lo_1="", lo_2="", hi_0=0, hi_1=str(today), hi_2="")
    if name.endswith("_one"):
        params["reseller_id"] = member[0]
    if name.endswith("_member"):
        params["user_id"] = member[2]
    return params


def test_the_reader_returns_what_sqlalchemy_returns_for_every_statement(channel: str) -> None:
    """Each prepared statement, run by the Reader on the driver's connection, gives the
    rows that SQLAlchemy gives when it runs the builder itself (types included)."""
    from resellctl.domain import queries
    from resellctl.domain.prepared import SQL
    from resellctl.store.engine import Store

    store = Store(channel)
    try:
        with store.read() as conn:
            dialect = conn.dialect.name
            member = tuple(conn.exec_driver_sql(
                "SELECT m.reseller_id, r.slug, m.user_id FROM membership m "
                "JOIN reseller r ON r.id = m.reseller_id "
                "ORDER BY m.reseller_id, m.user_id").first())
            expected = {}
            for name, build in queries.statements().items():
                statement = build(dialect)
                if statement is None:  # another store's statement
                    continue
                rows = conn.execute(statement, _params(name, member)).all()
                expected[name] = _sorted(rows)
        fresh = Store(channel)
        with fresh.reader() as db:  # no engine yet: the driver's own new connection
            got = {name: _sorted(db.rows(SQL[name], **_params(name, member)))
                   for name in SQL if dialect in SQL[name]}
        fresh.dispose()
        with store.reader() as db:  # the engine's pooled connection (a server worker)
            pooled = {name: _sorted(db.rows(SQL[name], **_params(name, member)))
                      for name in SQL if dialect in SQL[name]}
    finally:
        store.dispose()
    assert set(got) == set(expected)
    assert sum(len(rows) for rows in expected.values()) > 100  # the sample has data
    for name in expected:
        assert got[name] == expected[name], name
        assert pooled[name] == expected[name], name


def _sorted(rows: list) -> list:
    return sorted((tuple(_plain(v) for v in row) for row in rows), key=repr)


def _plain(value: object) -> object:
    """Values compared as the domain reads them: numbers as int, days as ISO text."""
    if isinstance(value, date):
        return value.isoformat()
    if value is not None and type(value).__name__ == "Decimal":
        return int(value)
    return value


@pytest.mark.parametrize("args", [["report", "dashboard", "-o", "json"],
                                  ["report", "activity", "--range", "12m", "-o", "json"],
                                  ["report", "activity", "--range", "7d"]])
def test_a_report_process_never_imports_sqlalchemy(channel: str, tmp_path: Path,
                                                   args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESELLCTL_")}
    env.update(RESELLCTL_DATABASE_URL=channel, RESELLCTL_ACTOR=ADMIN, HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"), COLUMNS="80")
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('MODULES', *sorted(sys.modules), file=sys.stderr))\n"
            "from resellctl.cli.main import run\n"
            f"sys.argv = ['resellctl', *{args!r}]\n"
            "run()\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = set(done.stderr.rsplit("MODULES", 1)[1].split())
    assert "resellctl.domain.figures" in imported
    assert not {m for m in imported if m.split(".")[0] in ("sqlalchemy", "sqlmodel")}
    assert done.stdout.strip()


def _broken_stores(tmp_path: Path) -> dict[str, str]:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    empty = tmp_path / "empty.db"
    empty.touch()
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('0001')")
    return {"missing": f"sqlite:///{tmp_path / 'missing.db'}",
            "garbage": f"sqlite:///{garbage}", "empty": f"sqlite:///{empty}",
            "old revision": f"sqlite:///{old}",
            "postgres down": "postgresql://postgres@127.0.0.1:1/nothing",
            "postgres url typo": "postgresql://postgres@127.0.0.1:5432/x?sslmod=require",
            "unsupported": "mysql://root@localhost/x"}


@pytest.mark.parametrize("case", ["missing", "garbage", "empty", "old revision",
                                  "postgres down", "postgres url typo", "unsupported"])
def test_a_broken_store_fails_a_report_as_it_fails_any_command(tmp_path: Path,
                                                               case: str) -> None:
    """The prepared path meets the store's errors as the SQLAlchemy path does: same exit
    code, same error code, nothing created."""
    url = _broken_stores(tmp_path)[case]
    run = Runner(url, ADMIN)
    report = run("report", "dashboard", "-o", "json")
    other = run("whoami", "-o", "json")
    assert report.exit_code == other.exit_code != 0
    got, expected = json.loads(report.stderr)["error"], json.loads(other.stderr)["error"]
    assert got["code"] == expected["code"]
    if case != "postgres url typo":  # libpq words that one; SQLAlchemy checks it first
        assert got["message"] == expected["message"]
    assert not (tmp_path / "missing.db").exists()


def test_an_unknown_actor_and_a_hidden_reseller_read_as_on_every_command(
        run: Runner) -> None:
    for user in ("owner@acme.example", "v@beta.example"):
        assert run("user", "create", user).exit_code == 0
    assert run("reseller", "create", "--slug", "acme", "--name", "Acme",
               "--owner", "owner@acme.example").exit_code == 0
    assert run("reseller", "create", "--slug", "beta", "--name", "Beta",
               "--owner", "v@beta.example").exit_code == 0
    unknown = run("report", "dashboard", "-o", "json", actor="ghost@x.example")
    assert unknown.exit_code == 6
    assert json.loads(unknown.stderr)["error"]["code"] == "unknown_actor"
    hidden = run("report", "dashboard", "--reseller", "acme", "-o", "json",
                 actor="v@beta.example")
    missing = run("report", "dashboard", "--reseller", "nope", "-o", "json")
    assert hidden.exit_code == missing.exit_code == 3
    assert json.loads(hidden.stderr)["error"] == {
        **json.loads(missing.stderr)["error"], "message": "reseller `acme` not found"}
    assert json.loads(hidden.stderr)["error"]["code"] == "reseller_not_found"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
       st.sampled_from(["sqlite", "sqlite+pysqlite"]), st.booleans())
def test_sqlite_path_reads_a_url_as_sqlalchemy_does(name: str, scheme: str,
                                                    query: bool) -> None:
    """store/engine.sqlite_path parses without SQLAlchemy; make_url is the reference."""
    from sqlalchemy.engine import make_url

    from resellctl.store.engine import sqlite_path

    url = f"{scheme}:///{name}" + ("?mode=ro" if query else "")
    expected = make_url(url).database
    got = sqlite_path(url)
    if not expected or expected == ":memory:":
        assert got is None
    else:
        assert got == Path(expected)


def test_a_lost_connection_never_stays_checked_out_of_the_pool(store_url: str) -> None:
    """A server's reader whose PostgreSQL backend goes away mid-read reports the store
    error (exit 75), and its pooled connection is not kept out of the pool nor handed out
    again: the next read works."""
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL-only: a backend to terminate")
    import psycopg
    from conftest import pg_base_url

    from resellctl.domain.errors import StoreUnavailable
    from resellctl.store.engine import Store

    store = Store(store_url)
    try:
        with store.read() as conn:  # the engine exists, as in a serve worker
            conn.exec_driver_sql("SELECT 1")
        for _ in range(3):
            with pytest.raises(StoreUnavailable) as caught, store.reader() as db:
                pid = db.execute("SELECT pg_backend_pid()")[0][0]
                with psycopg.connect(pg_base_url(), autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                db.execute("SELECT 1")
            assert caught.value.code == "store_unavailable"  # exit 75
            assert store.engine.pool.checkedout() == 0
        with store.reader() as db:
            assert db.execute("SELECT 1") == [(1,)]
    finally:
        store.dispose()
