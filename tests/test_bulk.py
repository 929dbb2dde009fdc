"""store/bulk.py on both stores: the set-based writes the sweep is made of (PostgreSQL:
binary COPY, and UPDATE ... FROM a temporary table filled by COPY; SQLite: executemany)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from resellctl.domain.errors import Conflict
from resellctl.store.bulk import insert_rows, update_rows
from resellctl.store.engine import Store
from resellctl.store.tables import plan as PLAN  # noqa: N812

AT = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def plans(store: Store) -> dict[str, tuple]:
    """The test's plans: code → (name, custom, prices, updated_at)."""
    with store.read() as conn:
        rows = conn.execute(select(PLAN).where(PLAN.c.code.like("bulk-%"))).all()
    return {r.code: (r.name, r.custom, r.prices if isinstance(r.prices, dict)
                     else json.loads(r.prices), r.updated_at) for r in rows}


def add_plans(store: Store, codes: str) -> None:
    with store.write() as conn:
        insert_rows(conn, PLAN, ("code", "name", "prices"),
                    ((f"bulk-{c}", c.upper(), {"n": n}) for n, c in enumerate(codes)),
                    custom=False, updated_at=AT)


def test_update_rows_sets_each_rows_values_and_the_constants(store_url: str) -> None:
    store = Store(store_url)
    try:
        add_plans(store, "abcd")
        with store.write() as conn:
            update_rows(conn, PLAN, "code", ["name", "prices"], [
                ("bulk-a", "Ä, \"quoted\"\nline", {"k": [1, "é", None]}),
                ("bulk-b", "B2", '{"raw": true}'),  # a str is JSON text already
                ("bulk-zz", "none", {"missing": 1})],  # no such row: nothing happens
                custom=True, updated_at=LATER)
            update_rows(conn, PLAN, "code", [], [("bulk-c",)], updated_at=LATER)  # again
            update_rows(conn, PLAN, "code", ["name"], [])  # nothing to do
        assert plans(store) == {
            "bulk-a": ("Ä, \"quoted\"\nline", True, {"k": [1, "é", None]}, LATER),
            "bulk-b": ("B2", True, {"raw": True}, LATER),
            "bulk-c": ("C", False, {"n": 2}, LATER),
            "bulk-d": ("D", False, {"n": 3}, AT)}
    finally:
        store.dispose()


def test_a_failed_update_leaves_no_change_and_no_staging_table(store_url: str) -> None:
    store = Store(store_url)
    try:
        add_plans(store, "k")
        with pytest.raises(Conflict), store.write() as conn:
            # the UPDATE fails (name is NOT NULL) after the staging table was filled
            update_rows(conn, PLAN, "code", ["name"], [("bulk-k", None)])
        assert plans(store)["bulk-k"][0] == "K"
        with store.write() as conn:  # a staging table left behind would be in the way
            update_rows(conn, PLAN, "code", ["name"], [("bulk-k", "K2")])
            update_rows(conn, PLAN, "code", ["name"], [("bulk-k", "K3")])
        assert plans(store)["bulk-k"][0] == "K3"
    finally:
        store.dispose()


def test_a_table_of_the_staging_tables_name_is_left_alone(store_url: str) -> None:
    """PostgreSQL, with the temporary schema last in the search path: the staging table
    is named in pg_temp, so the user's own `bulk_plan` is neither read nor dropped."""
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL-only: the update's temporary table")
    store = Store(store_url)
    try:
        add_plans(store, "m")
        with store.write() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
            conn.exec_driver_sql("CREATE TABLE bulk_plan (code varchar(64), name varchar(200))")
            conn.exec_driver_sql("INSERT INTO bulk_plan VALUES ('bulk-m', 'theirs')")
        with store.write() as conn:
            conn.exec_driver_sql(f'SET LOCAL search_path = "{schema}", pg_temp')
            update_rows(conn, PLAN, "code", ["name"], [("bulk-m", "ours")])
        with store.write() as conn:
            update_rows(conn, PLAN, "code", ["name"], [("bulk-m", "ours again")])
            assert conn.exec_driver_sql("SELECT code, name FROM bulk_plan").all() == [
                ("bulk-m", "theirs")]
        assert plans(store)["bulk-m"][0] == "ours again"
    finally:
        store.dispose()
