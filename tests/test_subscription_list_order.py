"""The order and the cells of `subscription list` on both stores: the soonest period end
first, the subscriptions without one last, ties by id in byte order (RULES: soonest
renewal first); every CSV cell as the JSON has it (formatted by the database there).

PostgreSQL sorts it as one text key in the "C" collation (subscriptions.list_order);
SQLite by the three columns. The same rows come out in the same order either way: every
output (csv through the prepared statements and through SQLAlchemy, json, ndjson), every
scope (the whole channel, one reseller, a member's resellers) and every window
(--limit/--offset). The data is built for the key's edges: many ties on one date, dates
across a year's end and at the ends of the calendar (years 999 and 9999: the key's date
must be fixed-width), no date at all, ids of different lengths, cases and characters;
names that start like formulas, with a tab, a CR, a non-ASCII letter, or are empty;
instants with fractions of a second; on PostgreSQL a session in DateStyle `SQL, DMY`.
"""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from datetime import UTC, date, datetime

import pytest
from helpers import three_resellers

from resellctl.domain.csvfile import FORMULA_START
from resellctl.domain.subscriptions import OUTPUT
from resellctl.store.engine import Store

MEMBER = "mia@member.example"  # an admin of acme, a viewer of beta, nothing in gamma
NOW = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
LATER = datetime(2026, 2, 3, 4, 5, 6, 999_999, tzinfo=UTC)  # the cells drop the fraction
NAMES = ["Plain Co", "=SUM(A1:A9)", "+Plus", "-Minus", "@At", "\tTab first",
         "\rCR first", "Zoë Café", "東京 支店", "", "'=already", "株式会社, \"東京\""]
DATES = [date(999, 3, 4), date(2026, 7, 1), date(2026, 7, 1), date(2027, 12, 31),
         date(2028, 1, 1), date(2028, 1, 10), date(2028, 10, 1), date(9999, 12, 31)]
INTERVALS = ("monthly", "quarterly", "biannual", "yearly")


def sub_id(i: int) -> str:
    """Ids that sort differently by length, case and punctuation than by number."""
    shapes = (f"sub_{i:05d}", f"SUB_{i:05d}", f"sub_{i}", f"sub_{i:05d}x", f"sub-{i:05d}",
              f"sub_{i:05d}_", f"Sub_{i:03d}")
    return shapes[i % len(shapes)]


@pytest.fixture
def seeded(store_url: str) -> list[tuple]:
    return seed(store_url)


def seed(store_url: str) -> list[tuple]:
    """Resellers acme, beta, gamma and direct clients; 300 subscriptions, a fifth
    without a period end. Returns (id, reseller slug, period end) of each."""
    from sqlalchemy import insert, select

    from resellctl.store import tables

    rng = random.Random(15)
    store = Store(store_url)
    try:
        with store.write() as conn:
            ids = three_resellers(conn, MEMBER, NOW)
            owners = ["acme", "beta", "gamma", None]
            first = conn.execute(select(tables.client.c.id)).scalars().all()
            base = max(first, default=0) + 1
            conn.execute(insert(tables.client), [
                {"id": base + c, "uid": f"cl_{c:020d}",
                 "reseller_id": ids.get(owners[c % 4]), "name": NAMES[c],
                 "owner_name": "O", "owner_email": ("=" if c % 5 == 0 else "")
                 + f"o{c}@client.example",
                 "stage": "active", "status": "active", "plan": "business-location",
                 "seats_allocated": 1, "seats_used": 0, "support_type": "vendor",
                 "support_access": False, "created_at": NOW, "updated_at": NOW}
                for c in range(12)])
            made, rows = [], []
            for i in rng.sample(range(10_000), 300):
                client = i % 12
                end = None if rng.random() < 0.2 else rng.choice(DATES)
                rows.append({
                    "id": sub_id(i), "client_id": base + client,
                    "reseller_id": ids.get(owners[client % 4]),
                    "plan_code": "enterprise" if i % 3 else "-plan",
                    "plan_name": ("Enterprise", "@Pro", "\tTabbed", "会員")[i % 4],
                    "quantity": 1 + i % 7, "interval": INTERVALS[i % 4],
                    "unit_cents": (100, 333, 1)[i % 3],
                    "status": "pending" if end is None else "active", "auto_renew": True,
                    "start_date": end, "current_period_end": end,
                    "activated_at": None if end is None else LATER, "created_at": NOW,
                    "updated_at": NOW})
                made.append((sub_id(i), owners[client % 4], end))
            conn.execute(insert(tables.subscription), rows)
        return made
    finally:
        store.dispose()


def in_order(subs: list[tuple], keep=lambda sub: True) -> list[str]:  # noqa: ANN001
    """The ids as the list must give them."""
    wanted = [sub for sub in subs if keep(sub)]
    wanted.sort(key=lambda sub: (sub[2] is None, sub[2] or date.min, sub[0].encode()))
    return [sub[0] for sub in wanted]


def csv_ids(result) -> list[str]:  # noqa: ANN001
    assert result.exit_code == 0, result.stderr
    return [row["id"] for row in csv.DictReader(io.StringIO(result.stdout))]


def json_ids(result) -> list[str]:  # noqa: ANN001
    assert result.exit_code == 0, result.stderr
    return [sub["id"] for sub in json.loads(result.stdout)]


def test_every_output_and_scope_lists_in_one_order(seeded, run):  # noqa: ANN001
    everything = in_order(seeded)
    assert len(everything) == 300 and len(set(everything)) == 300
    assert csv_ids(run("subscription", "list", "-o", "csv")) == everything
    assert json_ids(run("subscription", "list", "-o", "json")) == everything
    ndjson = run("subscription", "list", "-o", "ndjson").stdout.splitlines()
    assert [json.loads(line)["id"] for line in ndjson] == everything
    acme = in_order(seeded, lambda sub: sub[1] == "acme")
    assert csv_ids(run("subscription", "list", "-r", "acme", "-o", "csv")) == acme
    assert json_ids(run("subscription", "list", "-r", "acme", "-o", "json")) == acme
    members = in_order(seeded, lambda sub: sub[1] in ("acme", "beta"))
    assert csv_ids(run("subscription", "list", "-o", "csv", actor=MEMBER)) == members
    assert json_ids(run("subscription", "list", "-o", "json", actor=MEMBER)) == members
    dated = in_order(seeded, lambda sub: sub[2] is not None)
    assert csv_ids(run("subscription", "list", "--status", "active", "-o", "csv")) == dated


@pytest.mark.parametrize(("limit", "offset"), [(50, 0), (50, 100), (7, 233), (100, 250)])
def test_windows_are_slices_of_the_whole_list(seeded, run, limit, offset):  # noqa: ANN001
    everything = in_order(seeded)
    window = run("subscription", "list", "--limit", str(limit), "--offset", str(offset),
                 "-o", "json")
    assert json_ids(window) == everything[offset:offset + limit]
    window_csv = run("subscription", "list", "--limit", str(limit), "--offset", str(offset),
                     "-o", "csv")
    assert csv_ids(window_csv) == everything[offset:offset + limit]


def as_cell(key: str, value: object) -> str:
    """A JSON value as `-o csv` writes it: empty for none, true/false, a leading quote
    on free text that a spreadsheet would read as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    free = key in ("client_name", "owner_email", "plan", "plan_name")
    return "'" + text if free and text.startswith(FORMULA_START) else text


@pytest.mark.parametrize("scope", [(), ("-r", "acme")])
def test_every_cell_is_the_json_value(seeded, run, monkeypatch, scope):  # noqa: ANN001
    """The whole channel (prepared SQL) and one reseller (SQLAlchemy): both COPYs on
    PostgreSQL, whatever the session's DateStyle (libpq reads PGDATESTYLE)."""
    monkeypatch.setenv("PGDATESTYLE", "SQL, DMY")
    cells_match_json(run, scope)


def test_a_postgresql_database_in_euc_jp(store_url):  # noqa: ANN001
    """A multibyte server encoding other than UTF-8: names that begin with Japanese
    characters export, and arrive in the client's UTF-8 (ascii(), a cheaper formula
    guard, failed here: `requested character too large`)."""
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL-only: a database of another encoding")
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from conftest import ADMIN, Runner, _init_store, pg_base_url

    name = "rsl_eucjp_" + uuid.uuid4().hex[:12]  # databases are the server's, not a schema
    with psycopg.connect(pg_base_url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} ENCODING 'EUC_JP' LC_COLLATE 'C' "
                     "LC_CTYPE 'C' TEMPLATE template0")
    try:
        url = urlunsplit(urlsplit(pg_base_url())._replace(path="/" + name))
        _init_store(url)
        seed(url)
        run = Runner(url, ADMIN)
        cells_match_json(run, ())
        exported = run("client", "list", "-o", "csv")
        assert exported.exit_code == 0, exported.stderr
        assert "株式会社" in exported.stdout and "東京 支店" in exported.stdout
    finally:
        with psycopg.connect(pg_base_url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def cells_match_json(run, scope: tuple) -> None:  # noqa: ANN001
    listed = run("subscription", "list", *scope, "-o", "json")
    assert listed.exit_code == 0, listed.stderr
    want = [[as_cell(key, sub[key]) for key in OUTPUT] for sub in json.loads(listed.stdout)]
    exported = run("subscription", "list", *scope, "-o", "csv")
    assert exported.exit_code == 0, exported.stderr
    rows = list(csv.reader(io.StringIO(exported.stdout, newline="")))
    assert rows[0] == list(OUTPUT)
    assert rows[1:] == want
    assert len(want) >= 50
    cells = {key: {row[n] for row in rows[1:]} for n, key in enumerate(OUTPUT)}
    assert "2026-02-03T04:05:06Z" in cells["activated_at"]
    assert {"0999-03-04", "9999-12-31", ""} <= cells["current_period_end"]
    assert {"'=SUM(A1:A9)", "'\tTab first", "'-plan", "'@Pro"} & (
        cells["client_name"] | cells["plan"] | cells["plan_name"])
