"""The two-process SQLite export of `subscription list -o csv` (domain/csvhalves.py,
domain/subscription_csv.py), on real SQLite files with real helper processes.

SQLite only: on PostgreSQL the export is one COPY and is never split, so these tests do
not take the `store_url` fixture (which runs each test on both stores); they make their
own SQLite store, initialised like conftest's, and seed it with bulk SQL.

What is checked: the split export writes the very bytes of the one-process export and of
the SQLAlchemy one (subscriptions.export_csv) for the three scopes, with the split key in
the NULL group and in the dated group; both halves read one snapshot while another
process commits; every fallback (a writer holding the lock, no helper, no file) writes
the same text unsplit; a helper's error reaches the parent and no helper is left; the
installed entry point on a store big enough to split by itself, also cut off by a pipe.
"""

from __future__ import annotations

import csv
import io
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from helpers import three_resellers
from test_entrypoint import clean_env, entry_point

from resellctl.domain import csvhalves, subscription_csv, subscriptions
from resellctl.domain.context import Ctx
from resellctl.domain.prepared import SQL
from resellctl.store.engine import Store

ADMIN = "admin@vendor.example"
MEMBER = "mia@member.example"  # a member of acme and beta, not of gamma
NAMES = ["Plain Co", "Comma, Inc", 'Say "hi"', 'Both, "quoted"', "Line\nbreak",
         "Carriage\rreturn", "CRLF\r\nname", "=SUM(A1:A9)", "+Plus", "-Minus", "@At",
         "\tTab first", "\rCR first", "Zoë Café", "東京 支店", " spaced ", "'=already",
         "trailing,", '"', ""]
DATES = [date(2026, 7, 1), date(2026, 7, 1), date(2026, 9, 30), date(2027, 1, 31),
         date(2027, 1, 31), date(2030, 2, 28)]  # repeated: the split falls among ties
STATUSES = ("active", "paused", "cancelled", "expired")
INTERVALS = ("monthly", "quarterly", "biannual", "yearly")
NOW = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)


# ---------------------------------------------------------------- stores and data


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised SQLite store (schema at head, the admin), made once."""
    from resellctl.domain import setup

    path = tmp_path_factory.mktemp("halves") / "template.db"
    store = Store(f"sqlite:///{path}", check_schema=False)
    try:
        setup.init(store, ADMIN, "Vendor Admin")
    finally:
        store.dispose()
    return path


@pytest.fixture
def url(template: Path, tmp_path: Path) -> str:
    shutil.copy(template, tmp_path / "store.db")
    return f"sqlite:///{tmp_path / 'store.db'}"


def seed(url: str, subs: int, pending_share: float, *, clients: int = 40,
         seed_value: int = 7) -> list[str]:
    """Resellers acme, beta, gamma; MEMBER in acme and beta; `clients` clients with
    tricky names (one in four direct: no reseller); `subs` subscriptions, a share of
    them pending (no dates), the rest of several statuses on a few repeated end dates.
    Bulk inserts (bench/subscriptions.py's idea). Returns the subscription ids."""
    from sqlalchemy import insert

    from resellctl.store import tables

    rng = random.Random(seed_value)
    store = Store(url)
    try:
        with store.write() as conn:
            ids = three_resellers(conn, MEMBER, NOW)
            owners = [ids["acme"], ids["beta"], ids["gamma"], None]
            conn.execute(insert(tables.client), [
                {"id": c + 1, "uid": f"cl_{c:06d}", "reseller_id": owners[c % 4],
                 "name": NAMES[c % len(NAMES)], "owner_name": "O",
                 "owner_email": ("-" if c % 5 == 0 else "") + f"o{c}@client.example",
                 "stage": "active", "status": "active", "plan": "business-location",
                 "seats_allocated": 1, "seats_used": 0, "support_type": "vendor",
                 "support_access": False, "created_at": NOW, "updated_at": NOW}
                for c in range(clients)])
            made = []
            for first in range(0, subs, 20_000):
                rows = []
                for i in range(first, min(subs, first + 20_000)):
                    client = i % clients
                    pending = rng.random() < pending_share
                    end = None if pending else rng.choice(DATES)
                    quantity = rng.choice((1, 3, 7, 100_000))
                    sub_id = (f"SUB_{i:05d}" if i % 7 == 0 else f"sub_{i:05d}"
                              + ("x" if i % 11 == 0 else ""))
                    rows.append({
                        "id": sub_id, "client_id": client + 1,
                        "reseller_id": owners[client % 4],
                        "plan_code": "enterprise" if i % 3 else "=formula",
                        "plan_name": 'Enterprise, "Pro"' if i % 2 else "Enterprise",
                        "quantity": quantity, "interval": INTERVALS[i % 4],
                        "unit_cents": rng.choice((3, 5, 1500, 9_999_999)),
                        "status": "pending" if pending else STATUSES[i % 4],
                        "auto_renew": bool(i % 2),
                        "start_date": None if pending else date(2026, 1, 1 + i % 28),
                        "current_period_end": end,
                        "activated_at": None if pending else NOW, "created_at": NOW,
                        "updated_at": NOW})
                conn.execute(insert(tables.subscription), rows)
                made += [row["id"] for row in rows]
        return made
    finally:
        store.dispose()


SCOPES = [(ADMIN, None), (ADMIN, "acme"), (MEMBER, None), (MEMBER, "beta")]


def export_to(path: Path, export, store: Store, actor: str, reseller: str | None) -> bytes:  # noqa: ANN001
    """Run an export into a real file, as the CLI's stdout would be; its bytes."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        export(Ctx(store, actor), out, reseller=reseller)
    return path.read_bytes()


class Recorder:
    """csvhalves.write, recording each call's `first` parameters and what it returned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[dict, bool]] = []
        self._write = csvhalves.write
        monkeypatch.setattr(csvhalves, "write", self)

    def __call__(self, conn, sql, first, second, out):  # noqa: ANN001, ANN204
        done = self._write(conn, sql, first, second, out)
        self.calls.append((first, done))
        return done

    @property
    def results(self) -> list[bool]:
        return [done for _, done in self.calls]


def force_split(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    monkeypatch.setattr(subscription_csv, "SPLIT_MIN_ROWS", 1)
    monkeypatch.setattr(subscription_csv, "SAMPLE_EVERY", 1)
    return Recorder(monkeypatch)


def csv_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def children() -> set[int]:
    """This process's child processes, running or not yet reaped (from /proc)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            found.add(int(entry))
    return found


def helpers_running(tmp_path: Path) -> list[str]:
    """Command lines of the csvhalves helpers started by this test, running or not: the
    helper inherits the environment, which names this test's folder (RESELLCTL_CONFIG,
    set by conftest's `isolated` and by clean_env), so that another session's helpers on
    this machine do not count."""
    mark = str(tmp_path).encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                if b"csvhalves.py" not in cmdline:
                    continue
                if mark in Path(f"/proc/{entry}/environ").read_bytes():
                    found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return found


# ---------------------------------------------------------------- 1. the same bytes


@pytest.mark.parametrize(("pending_share", "split_in_null_group"),
                         [(0.3, False), (0.7, True)], ids=["dated-middle", "null-middle"])
def test_the_split_export_is_byte_identical_to_the_unsplit_and_sqlalchemy_ones(
        url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pending_share: float,
        split_in_null_group: bool) -> None:
    made = seed(url, 400, pending_share)
    store = Store(url)
    try:
        for actor, reseller in SCOPES:
            reference = export_to(tmp_path / "sqlalchemy.csv", subscriptions.export_csv,
                                  store, actor, reseller)
            with monkeypatch.context() as patch:
                patch.setattr(subscription_csv, "SPLIT_MIN_ROWS", 10**12)
                unsplit_calls = Recorder(patch)
                unsplit = export_to(tmp_path / "unsplit.csv", subscription_csv.export_csv,
                                    store, actor, reseller)
            assert unsplit_calls.calls == []  # below the threshold: never split
            with monkeypatch.context() as patch:
                recorder = force_split(patch)
                split = export_to(tmp_path / "split.csv", subscription_csv.export_csv,
                                  store, actor, reseller)
            assert recorder.results == [True], (actor, reseller)  # the split happened
            (first, _), = recorder.calls
            # the middle key (hi of the first half): in the NULL group (1) or not (0)
            assert first["hi_0"] == int(split_in_null_group), (actor, reseller, first)
            assert split == unsplit == reference, (actor, reseller)

            rows = csv_rows(split)
            assert rows, (actor, reseller)
            expected = {reseller} if reseller else ({"acme", "beta"} if actor == MEMBER
                                                  else {"acme", "beta", "gamma", ""})
            assert {row["reseller"] for row in rows} == expected
            if actor == ADMIN and reseller is None:
                assert sorted(row["id"] for row in rows) == sorted(made)
                whole = split
            # both halves hold rows, the NULL group comes last
            ends = [row["current_period_end"] for row in rows]
            assert ends == sorted(ends, key=lambda e: (e == "", e))
            assert "" in ends and any(ends)
        # the tricky cells came through: quoted, guarded, CR rows quoted whole
        text = whole.decode("utf-8")
        for cell in ['"Comma, Inc"', '"Say ""hi"""', '"Line\nbreak"', '"CRLF\r\nname"',
                     "'=SUM(A1:A9)", "'+Plus", "'-Minus", "'@At", "'\tTab first",
                     "'=formula", "Zoë Café", "東京 支店", "'-o0@client.example",
                     '"Enterprise, ""Pro"""', "999999900000"]:
            assert cell in text, cell
        names = {row["client_name"] for row in csv_rows(whole)}
        assert {"Carriage\rreturn", "'\rCR first", "'=already", " spaced ", '"',
                ""} <= names
        assert "\r\n" not in text.replace("CRLF\r\nname", "")  # "\n" line ends
    finally:
        store.dispose()


# ---------------------------------------------------------------- 2. one snapshot

WRITER = r"""
import os, random, sqlite3, sys, time
path, stop = sys.argv[1], sys.argv[2]
conn = sqlite3.connect(path, isolation_level=None, timeout=30)
rows = conn.execute("SELECT id, current_period_end FROM subscription").fetchall()
low = [i for i, end in rows if end is not None and end < "2027-01-01"]
high = [i for i, end in rows if end is None or end >= "2027-01-01"]
rng = random.Random(1)
commits = 0
while not os.path.exists(stop):
    conn.execute("BEGIN IMMEDIATE")
    for _ in range(4):  # swap the end dates of rows taken from either side of the middle
        a, b = rng.choice(low), rng.choice(high)
        (ea,), (eb,) = (conn.execute("SELECT current_period_end FROM subscription "
                                     "WHERE id = ?", (x,)).fetchone() for x in (a, b))
        conn.execute("UPDATE subscription SET current_period_end = ? WHERE id = ?", (eb, a))
        conn.execute("UPDATE subscription SET current_period_end = ? WHERE id = ?", (ea, b))
    conn.execute("COMMIT")
    commits += 1
    if commits == 1:
        print("started", flush=True)
    time.sleep(0.002)
print(commits, flush=True)
"""


@pytest.mark.slow
def test_both_halves_read_one_snapshot_while_another_process_commits(
        url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer process keeps swapping end dates between rows on either side of the
    split (each commit keeps the set of ids and the multiset of end dates, and moves
    rows from one half to the other). Without the write lock held while both processes
    open their snapshots (csvhalves._share_snapshot), the helper's half could come from
    a later snapshot than the parent's: a row would then show in both halves or in
    neither, and an end date twice or not at all."""
    made = seed(url, 3000, 0.3)
    path = url[len("sqlite:///"):]
    with sqlite3.connect(path) as conn:
        ends = Counter(end or "" for (end,) in conn.execute(
            "SELECT current_period_end FROM subscription"))
    conn.close()
    recorder = force_split(monkeypatch)
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, path, str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = Store(url)
    try:
        assert writer.stdout.readline() == "started\n", writer.stderr.read()
        for n in range(15):
            started = time.monotonic()
            data = export_to(tmp_path / f"run{n}.csv", subscription_csv.export_csv,
                             store, ADMIN, None)
            assert time.monotonic() - started < 10
            rows = csv_rows(data)
            ids = Counter(row["id"] for row in rows)
            assert [i for i, count in ids.items() if count > 1] == [], n
            assert sorted(ids) == sorted(made), n
            assert Counter(row["current_period_end"] for row in rows) == ends, n
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=30)
        store.dispose()
    assert writer.returncode == 0, err
    assert int(out.split()[-1]) >= 30  # the writer did commit, all along
    assert recorder.results.count(True) >= 8, recorder.results  # mostly split
    with sqlite3.connect(path) as conn:
        moved = conn.execute("SELECT count(*) FROM subscription WHERE current_period_end "
                             "IS NULL AND status <> 'pending'").fetchone()[0]
    conn.close()
    assert moved > 0  # the writer's swaps did cross between the groups


# ---------------------------------------------------------------- 3. fallbacks

LOCKER = r"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def test_a_writer_holding_the_lock_means_no_split_and_a_prompt_right_export(
        url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(url, 300, 0.5)
    store = Store(url)
    try:
        reference = export_to(tmp_path / "sqlalchemy.csv", subscriptions.export_csv,
                              store, ADMIN, None)
        recorder = force_split(monkeypatch)
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, url[len("sqlite:///"):]],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert locker.stdout.readline() == "locked\n"
            before = children()
            started = time.monotonic()
            exported = export_to(tmp_path / "locked.csv", subscription_csv.export_csv,
                                 store, ADMIN, None)
            elapsed = time.monotonic() - started
            assert children() - before == set()  # the helper it started is reaped
        finally:
            locker.communicate("\n", timeout=10)
        assert locker.returncode == 0
    finally:
        store.dispose()
    assert recorder.results == [False]
    assert elapsed < 3, elapsed  # LOCK_WAIT_S, not the 30 s busy timeout
    assert exported == reference


def _dies_at_once(descriptor: int) -> subprocess.Popen:
    """A helper that leaves before saying `ready`."""
    return subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, pass_fds=(descriptor,))


@pytest.mark.parametrize("start", [lambda descriptor: None, _dies_at_once],
                         ids=["cannot-start", "dies-before-ready"])
def test_no_helper_process_means_no_split(url: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, start) -> None:  # noqa: ANN001
    seed(url, 300, 0.5)
    store = Store(url)
    try:
        reference = export_to(tmp_path / "sqlalchemy.csv", subscriptions.export_csv,
                              store, MEMBER, None)
        recorder = force_split(monkeypatch)
        monkeypatch.setattr(csvhalves, "_start", start)
        before = children()
        exported = export_to(tmp_path / "nohelper.csv", subscription_csv.export_csv,
                             store, MEMBER, None)
        assert children() - before == set()
    finally:
        store.dispose()
    assert recorder.results == [False]
    assert exported == reference


def test_an_output_that_is_no_file_means_no_split(url: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    seed(url, 300, 0.5)
    store = Store(url)
    try:
        reference = export_to(tmp_path / "sqlalchemy.csv", subscriptions.export_csv,
                              store, ADMIN, "acme")
        recorder = force_split(monkeypatch)
        out = io.StringIO()
        subscription_csv.export_csv(Ctx(store, ADMIN), out, reseller="acme")
    finally:
        store.dispose()
    assert recorder.results == [False]
    assert out.getvalue().encode("utf-8") == reference


def test_an_in_memory_database_is_not_split(tmp_path: Path) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (a TEXT, b TEXT)")
    conn.execute("BEGIN")
    with open(tmp_path / "out.csv", "w", encoding="utf-8", newline="") as out:
        assert csvhalves.write(conn, "SELECT a, b FROM t WHERE a >= :x", {"x": ""},
                               {"x": ""}, out) is False
    assert (tmp_path / "out.csv").read_bytes() == b""
    conn.close()


# ---------------------------------------------------------------- 4. a helper's error


def test_a_helper_error_after_ready_is_raised_in_the_parent_and_no_helper_is_left(
        url: str, tmp_path: Path) -> None:
    seed(url, 300, 0.5)
    sql, constants = SQL["subscription_csv_part_all"]["sqlite"]
    bounds = {"lo_0": 0, "lo_1": "", "lo_2": "", "hi_0": 1, "hi_1": "", "hi_2": ""}
    first = {**constants, **bounds}
    second = {**constants, "lo_0": 1, "lo_1": "", "lo_2": "", "hi_0": 2, "hi_1": ""}
    before = children()
    store = Store(url)
    try:
        with store.reader() as db, open(tmp_path / "out.csv", "w", encoding="utf-8",
                                        newline="") as out:
            with pytest.raises(sqlite3.ProgrammingError, match="hi_2"):
                csvhalves.write(db.driver, sql, first, second, out)
    finally:
        store.dispose()
    assert children() - before == set()  # killed and reaped: no zombie either
    assert helpers_running(tmp_path) == []
    written = csv_rows((tmp_path / "out.csv").read_bytes())
    assert written and all(row["current_period_end"] for row in written)  # the first half


# ---------------------------------------------------------------- 5. the entry point

BIG = 52_000  # one row in 64 sampled: 812 * 64 >= subscription_csv.SPLIT_MIN_ROWS


@pytest.mark.slow
def test_the_entry_point_splits_a_big_export_and_stops_cleanly_when_cut_off(
        url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(url, BIG, 0.4, clients=300)
    store = Store(url)
    try:
        reference = export_to(tmp_path / "sqlalchemy.csv", subscriptions.export_csv,
                              store, ADMIN, None)
        recorder = Recorder(monkeypatch)  # the real thresholds split it
        in_process = export_to(tmp_path / "split.csv", subscription_csv.export_csv,
                               store, ADMIN, None)
    finally:
        store.dispose()
    assert recorder.results == [True]
    assert in_process == reference
    assert reference.count(b"\n") > BIG

    env = clean_env(tmp_path, RESELLCTL_DATABASE_URL=url, RESELLCTL_ACTOR=ADMIN)
    argv = [entry_point(), "subscription", "list", "-o", "csv"]
    with open(tmp_path / "stdout.csv", "wb") as stdout:
        done = subprocess.run(argv, env=env, stdout=stdout, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert (tmp_path / "stdout.csv").read_bytes() == reference

    with open(tmp_path / "stderr.txt", "wb") as stderr:
        cut = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=stderr)
        header = cut.stdout.readline()
        cut.stdout.close()  # `| head -1`
        code = cut.wait(timeout=60)
    assert header == reference.split(b"\n")[0] + b"\n"
    assert code == 141
    assert b"Traceback" not in (tmp_path / "stderr.txt").read_bytes()
    # the helper is killed and reaped before resellctl exits (csvhalves._stop): none
    # is left even now, without waiting for one to finish its half on its own
    assert helpers_running(tmp_path) == []
    time.sleep(0.5)
    assert helpers_running(tmp_path) == []


def test_an_output_that_is_not_utf8_is_not_split_and_keeps_one_bom(
        url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper writing its half in a codec with a byte-order mark would put a second
    one mid-file: only a UTF-8 output is split (review finding)."""
    seed(url, 300, 0.5)
    store = Store(url)
    try:
        recorder = force_split(monkeypatch)
        target = tmp_path / "sig.csv"
        with open(target, "w", encoding="utf-8-sig", newline="") as out:
            subscription_csv.export_csv(Ctx(store, ADMIN), out)
        reference = export_to(tmp_path / "sqlalchemy.csv", subscriptions.export_csv,
                              store, ADMIN, None)
    finally:
        store.dispose()
    assert recorder.results == [False]
    data = target.read_bytes()
    assert data.count(b"\xef\xbb\xbf") == 1 and data[3:] == reference


def test_every_cell_of_the_prepared_sqlite_export_is_text(url: str) -> None:
    """A direct client's subscription has no reseller: its cell is '' from SQL, not
    NULL, so that its chunk is joined rather than sent to csv.writer (review finding:
    a NOT NULL column of an outer-joined table was left unwrapped)."""
    seed(url, 300, 0.5)
    sql, constants = SQL["subscription_csv_all"]["sqlite"]
    with sqlite3.connect(url[len("sqlite:///"):]) as conn:
        rows = conn.execute(sql, constants).fetchall()
        direct = conn.execute("SELECT count(*) FROM subscription "
                              "WHERE reseller_id IS NULL").fetchone()[0]
    assert direct > 0 and rows
    assert {type(cell) for row in rows for cell in row} == {str}
