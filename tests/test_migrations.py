"""Migrations: head matches the models on both backends, from any directory; SQLite pragmas."""

from __future__ import annotations

import pytest

from resellctl.store import migrate
from resellctl.store.engine import HEAD_REVISION, Store, make_engine


def _diffs(url: str) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import resellctl.store.models  # noqa: F401  (registers the tables)

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def test_sqlite_write_transactions_get_a_bigger_page_cache(tmp_path):
    from resellctl.domain import setup
    from resellctl.store.engine import SQLITE_READ_CACHE_KIB, SQLITE_WRITE_CACHE_KIB

    store = Store(f"sqlite:///{tmp_path / 'store.db'}", check_schema=False)
    setup.init(store, "admin@example.com", "Admin")
    try:
        for _ in range(2):  # back and forth on the same pooled connection
            with store.write() as conn:
                assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_WRITE_CACHE_KIB
            with store.read() as conn:
                assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_READ_CACHE_KIB
    finally:
        store.dispose()


def test_an_empty_store_migrated_to_head_matches_the_models(empty_url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the scripts ship inside the package: any cwd works
    store = Store(empty_url, check_schema=False)
    try:
        assert migrate.upgrade(store) == (None, HEAD_REVISION)
        assert migrate.status(store) == {"current": HEAD_REVISION, "head": HEAD_REVISION,
                                         "up_to_date": True}
        assert migrate.upgrade(store) == (HEAD_REVISION, HEAD_REVISION)
    finally:
        store.dispose()
    assert _diffs(empty_url) == []


def test_the_comparison_would_notice_a_missing_table(empty_url):
    from sqlalchemy import text

    store = Store(empty_url, check_schema=False)
    try:
        migrate.upgrade(store)
    finally:
        store.dispose()
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE usage_snapshot"))
    finally:
        engine.dispose()
    diffs = _diffs(empty_url)
    assert [(d[0], d[1].name) for d in diffs if d[0] == "add_table"] == [
        ("add_table", "usage_snapshot")]


def test_head_revision_matches_the_scripts(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert HEAD_REVISION == migrate.script_head()


def test_the_migration_scripts_form_one_line():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert script.get_heads() == [HEAD_REVISION]
    assert len(script.get_bases()) == 1


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path):
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        for _ in range(2):  # every connection, not only the first
            with engine.connect() as conn:
                assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
                assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
            engine.dispose()
    finally:
        engine.dispose()


def test_sqlite_store_enforces_foreign_keys(tmp_path):
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url, check_schema=False)
    try:
        migrate.upgrade(store)
    finally:
        store.dispose()
    engine = make_engine(url)
    try:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO membership (user_id, reseller_id, role, created_at) "
                "VALUES (999, 999, 'admin', '2030-01-01 00:00:00')"))
    finally:
        engine.dispose()


def test_sqlite_write_transactions_take_the_lock_first(tmp_path):
    """A write transaction holds the write lock from BEGIN, so a read-check-write cannot race."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url, check_schema=False)
    try:
        migrate.upgrade(store)
        with store.write():
            other = sqlite3.connect(tmp_path / "store.db", timeout=0)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
        with store.read():
            other = sqlite3.connect(tmp_path / "store.db", timeout=0)
            try:
                other.execute("BEGIN IMMEDIATE")  # a read transaction does not block writers
                other.rollback()
            finally:
                other.close()
    finally:
        store.dispose()


# ---------------------------------------------------------------- 0002: the status index

def _client_indexes(url: str) -> set[str]:
    """The names of the client table's indexes and unique constraints."""
    from sqlalchemy import inspect

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            return ({ix["name"] for ix in inspector.get_indexes("client")}
                    | {uq["name"] for uq in inspector.get_unique_constraints("client")})
    finally:
        engine.dispose()


def test_a_store_at_0001_upgrades_to_0002_without_the_status_index(empty_url, bare_run):
    store = Store(empty_url, check_schema=False)
    try:
        assert migrate.upgrade(store, "0001") == (None, "0001")
        assert migrate.status(store)["current"] == "0001"
    finally:
        store.dispose()
    assert "ix_client_reseller_status" in _client_indexes(empty_url)
    # the old store is refused until upgraded
    refused = bare_run("--db", empty_url, "--as", "admin@vendor.example", "client", "list")
    assert refused.exit_code == 75 and "db upgrade" in refused.stderr

    result = bare_run("--db", empty_url, "db", "upgrade", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json == {"revision_before": "0001", "revision": HEAD_REVISION,
                           "changed": True}
    indexes = _client_indexes(empty_url)
    assert "ix_client_reseller_status" not in indexes
    assert "uq_client_external_id" in indexes  # the index that serves lookups stays
    assert _diffs(empty_url) == []
    status = bare_run("--db", empty_url, "db", "status", "-o", "json")
    assert (status.json["current"], status.json["up_to_date"]) == (HEAD_REVISION, True)


def test_0002_down_and_up_again_keeps_the_clients(store_url, run):
    from alembic import command

    created = run("client", "create", "--name", "Kept", "--owner-name", "K",
                  "--owner-email", "k@kept.example", "--external-id", "K-1", "-o", "json")
    assert created.exit_code == 0, created.stderr
    uid = created.json["uid"]
    store = Store(store_url, check_schema=False)
    try:
        with store.engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "0001")
        assert migrate.status(store)["current"] == "0001"
        assert "ix_client_reseller_status" in _client_indexes(store_url)
        assert migrate.upgrade(store) == ("0001", HEAD_REVISION)
    finally:
        store.dispose()
    assert "ix_client_reseller_status" not in _client_indexes(store_url)
    listed = run("client", "list", "-o", "json")
    assert listed.exit_code == 0, listed.stderr
    assert [(c["uid"], c["name"], c["external_id"]) for c in listed.json] == [
        (uid, "Kept", "K-1")]
    assert _diffs(store_url) == []


# ---------------------------------------------------------------- 0003: subscription renewals

def test_0003_down_and_up_again_keeps_the_subscriptions(store_url, run):
    from alembic import command
    from sqlalchemy import inspect, text

    created = run("client", "create", "--name", "Kept", "--owner-name", "K",
                  "--owner-email", "k@kept.example", "-o", "json")
    assert created.exit_code == 0, created.stderr
    sub = run("subscription", "create", created.json["uid"], "--plan", "business-location",
              "--quantity", "3", "-o", "json")
    assert sub.exit_code == 0, sub.stderr
    assert run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner",
               "admin@vendor.example", "--licenses", "1", "-o", "json").exit_code == 0
    assert run("reseller", "balance", "top-up", "acme", "500", "-o", "json").exit_code == 0
    other = run("client", "create", "-r", "acme", "--name", "Paid", "--owner-name", "P",
                "--owner-email", "p@paid.example", "-o", "json").json["uid"]
    paid = run("subscription", "create", other, "--plan", "business-location", "--quantity",
               "1", "--interval", "yearly", "-o", "json")
    assert run("subscription", "activate", paid.json["id"], "-o", "json").exit_code == 0
    store = Store(store_url, check_schema=False)
    try:
        with store.engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "0002")
            assert "next_unit_cents" not in {c["name"] for c in
                                             inspect(conn).get_columns("subscription")}
        assert migrate.upgrade(store) == ("0002", HEAD_REVISION)
        with store.engine.connect() as conn:  # 0004 recorded the current paid periods
            periods = conn.execute(text(
                "SELECT subscription_id, period_cents, months FROM subscription_period")).all()
    finally:
        store.dispose()
    shown = run("subscription", "show", sub.json["id"], "-o", "json")
    assert shown.exit_code == 0, shown.stderr
    assert (shown.json["quantity"], shown.json["status"]) == (3, "pending")
    assert [tuple(p) for p in periods] == [(paid.json["id"], 15000, 12)]
    assert _diffs(store_url) == []


# ---------------------------------------------------------------- 0007: in-place renewals

def test_0007_down_and_up_again_moves_the_period_end_index_and_the_fillfactor(store_url):
    from alembic import command
    from sqlalchemy import inspect, text

    def state(conn) -> tuple[set[str], object]:  # noqa: ANN001
        indexes = {i["name"] for i in inspect(conn).get_indexes("subscription")}
        options = (conn.execute(text("SELECT reloptions FROM pg_class WHERE oid = "
                                     "'subscription'::regclass")).scalar()
                   if conn.dialect.name == "postgresql" else "n/a")
        return indexes, options

    store = Store(store_url, check_schema=False)
    try:
        with store.engine.begin() as conn:
            indexes, options = state(conn)
            assert "ix_subscription_status_period_end" not in indexes
            assert options in (["fillfactor=50"], "n/a")
            command.downgrade(migrate.alembic_config(conn), "0006")
            indexes, options = state(conn)
            assert "ix_subscription_status_period_end" in indexes
            assert options in (None, "n/a")
        assert migrate.upgrade(store) == ("0006", HEAD_REVISION)
        with store.engine.connect() as conn:
            assert state(conn)[1] in (["fillfactor=50"], "n/a")
    finally:
        store.dispose()
    assert _diffs(store_url) == []
