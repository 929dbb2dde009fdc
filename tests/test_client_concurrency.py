"""Licence pools and imports under real concurrency: separate `resellctl` processes
(the installed entry point) against one store, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ok

pytestmark = pytest.mark.slow

ADMIN = "admin@vendor.example"
ANA = "ana@acme.example"
ROWS = 20_000
BIN = Path(sys.executable).with_name("resellctl")


# ---------------------------------------------------------------- helpers



def cli_env(store_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESELLCTL_")}
    env.update(RESELLCTL_DATABASE_URL=store_url, RESELLCTL_ACTOR=ADMIN,
               RESELLCTL_CONFIG=str(tmp_path / "proc-config" / "config.toml"), NO_COLOR="1")
    return env


def spawn(env: dict[str, str], *args: str) -> subprocess.Popen:
    assert BIN.exists(), f"the installed entry point is missing: {BIN}"
    return subprocess.Popen([str(BIN), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def query(store_url: str, sql: str) -> int:
    """One integer from raw SQL, over a fresh connection (not through resellctl)."""
    from sqlalchemy import create_engine, text

    from resellctl.store.engine import driver_url

    engine = create_engine(driver_url(store_url))
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def used(store_url: str) -> int:
    return query(store_url, "SELECT license_used FROM reseller WHERE slug = 'acme'")


def acme_clients(store_url: str, active_only: bool = False) -> int:
    where = " AND c.status = 'active' AND c.deleted_at IS NULL" if active_only else ""
    return query(store_url, "SELECT count(*) FROM client c JOIN reseller r ON r.id = "
                            f"c.reseller_id WHERE r.slug = 'acme'{where}")


def setup_acme(run, licences: int) -> None:  # noqa: ANN001
    ok(run("user", "create", ANA, "-o", "json"))
    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", ANA,
           "--licenses", str(licences), "-o", "json"))


def big_csv(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["name", "owner_name", "owner_email", "seats", "external_id"])
        writer.writerows([f"Client {i}", f"Owner {i}", f"owner{i}@client{i}.example", i % 50,
                          f"EXT-{i:06d}"] for i in range(rows))
    return path


def writing_started(store_url: str) -> bool:
    """True once another process holds the store's write lock (SQLite) or is copying
    rows into `client` (PostgreSQL): the import is writing, uncommitted."""
    if store_url.startswith("sqlite:///"):
        probe = sqlite3.connect(store_url[len("sqlite:///"):], timeout=0,
                                isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc), exc
            return True
        finally:
            probe.close()
    schema = re.search(r"search_path%3D(\w+)", store_url).group(1)
    return query(store_url, f"""
        SELECT count(*) FROM pg_locks l
        JOIN pg_class c ON c.oid = l.relation
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = '{schema}' AND c.relname = 'client'
          AND l.mode = 'RowExclusiveLock' AND l.granted AND l.pid <> pg_backend_pid()""") > 0


# ---------------------------------------------------------------- (a) the licence pool

def test_concurrent_creates_never_oversell_the_pool(run, store_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    setup_acme(run, 10)
    env = cli_env(store_url, tmp_path)
    procs = [spawn(env, "client", "create", "--reseller", "acme", "--name", f"Racer {i}",
                   "--owner-name", "R", "--owner-email", f"r{i}@race.example", "-o", "json")
             for i in range(24)]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0] * 10 + [7] * 14, [(c, err) for c, _, err in outcomes]
    for code, out, err in outcomes:
        if code == 0:
            assert json.loads(out)["reseller"] == "acme" and err == ""
        else:
            assert out == ""
            error = json.loads(err)["error"]
            assert (error["code"], error["exit_code"]) == ("no_free_license", 7), error
    assert used(store_url) == 10
    assert acme_clients(store_url) == 10
    pool = ok(run("license", "show", "acme", "-o", "json"))
    assert (pool["license_count"], pool["license_used"], pool["license_available"]) == (
        10, 10, 0)
    created = [json.loads(out)["name"] for code, out, _ in outcomes if code == 0]
    listed = [c["name"] for c in ok(run("client", "list", "-o", "json"))]
    assert sorted(listed) == sorted(created)
    assert len(ok(run("audit", "list", "--action", "client.create", "-o", "json"))) == 10
    ok(run("license", "reconcile", "-o", "json"))


# ---------------------------------------------------------------- (b) kill -9 mid-import

def test_a_killed_import_leaves_none_or_all_and_a_rerun_completes_it(
        run, store_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    setup_acme(run, ROWS + 500)
    source = big_csv(tmp_path / "big.csv", ROWS)
    # The file goes in through stdin, and only its first 12,000 rows (more than two
    # write chunks) before the kill: the import is surely mid-way, however fast it is.
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    proc = subprocess.Popen([str(BIN), "client", "import", "-", "--reseller", "acme",
                             "-o", "json"], env=cli_env(store_url, tmp_path),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # Kill once it has been writing for a while (a lock held continuously, not the blink
    # of the start-up schema check).
    hold = 0.2 if store_url.startswith("sqlite:///") else 0.1
    deadline, since = time.monotonic() + 60, None
    try:
        proc.stdin.write("".join(lines[:12_001]))
        proc.stdin.flush()
        while since is None or time.monotonic() - since < hold:
            assert proc.poll() is None, ("the import ended mid-file", proc.communicate())
            assert time.monotonic() < deadline, "the import never started writing"
            if not writing_started(store_url):
                since = None
            elif since is None:
                since = time.monotonic()
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.stdin.close()  # the SQLite reader process, if any, sees the end and leaves
    assert proc.wait(timeout=30) == -signal.SIGKILL  # it was killed, not finished

    after_kill = acme_clients(store_url)
    assert after_kill in (0, ROWS)
    assert used(store_url) == acme_clients(store_url, active_only=True) == after_kill
    assert ok(run("license", "reconcile", "-o", "json"))["resellers"] == []

    rerun = ok(run("client", "import", str(source), "--reseller", "acme",
                   "--on-existing", "skip", "-o", "json"))
    assert (rerun["created"], rerun["skipped"], rerun["failed"]) == (ROWS - after_kill,
                                                                    after_kill, 0)
    assert acme_clients(store_url) == ROWS
    assert query(store_url, "SELECT count(DISTINCT external_id) FROM client") == ROWS
    assert used(store_url) == ROWS
    ok(run("license", "reconcile", "-o", "json"))


# ---------------------------------------------------------------- (c) idempotent re-run

def test_running_the_same_import_again_is_a_no_op(run, store_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    rows = 6_000  # more than one 5,000-row write chunk
    setup_acme(run, rows)
    source = big_csv(tmp_path / "big.csv", rows)
    env = cli_env(store_url, tmp_path)

    def import_once() -> dict:
        proc = spawn(env, "client", "import", str(source), "--reseller", "acme",
                     "--on-existing", "skip", "-o", "json")
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and err == "", err
        return json.loads(out)

    first = import_once()
    stamp = query(store_url, "SELECT count(*) FROM client WHERE updated_at = "
                             "(SELECT max(updated_at) FROM client)")
    second = import_once()
    assert [(r["created"], r["updated"], r["skipped"], r["failed"]) for r in (first, second)
            ] == [(rows, 0, 0, 0), (0, 0, rows, 0)]
    assert first["import_id"] != second["import_id"]
    assert acme_clients(store_url) == rows and used(store_url) == rows
    # nothing was rewritten: every row still carries the first import's id and time
    assert query(store_url, f"SELECT count(*) FROM client WHERE import_id = "
                            f"{int(first['import_id'])}") == rows
    assert query(store_url, "SELECT count(*) FROM client WHERE updated_at = "
                            "(SELECT max(updated_at) FROM client)") == stamp == rows
    events = ok(run("audit", "list", "--action", "client.", "-o", "json"))
    assert [(e["action"], e["changes"]["created"], e["changes"]["skipped"]) for e in events] == [
        ("client.import", 0, rows), ("client.import", rows, 0)]


# ---------------------------------------------------------------- idempotent creates

def test_concurrent_idempotent_creates_make_one_client(run, store_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    """`--external-id X --if-not-exists` from several processes at once: one client per
    owner (a reseller, or none for a direct client), every caller gets it, exit 0."""
    setup_acme(run, 10)
    env = cli_env(store_url, tmp_path)
    owners = [["--reseller", "acme"]] * 3 + [[]] * 3
    procs = [spawn(env, "client", "create", *owner, "--name", f"Same {i}", "--owner-name", "S",
                   "--owner-email", "s@same.example", "--external-id", "SAME",
                   "--if-not-exists", "-o", "json")
             for i, owner in enumerate(owners)]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert [code for code, _, _ in outcomes] == [0] * 6, [err for _, _, err in outcomes]
    got = [json.loads(out) for _, out, _ in outcomes]
    for reseller in ("acme", None):
        mine = [c for c in got if c["reseller"] == reseller]
        assert len(mine) == 3 and len({c["uid"] for c in mine}) == 1, mine
        assert sorted(c["created"] for c in mine) == [False, False, True]
    assert query(store_url, "SELECT count(*) FROM client WHERE external_id = 'SAME'") == 2
    assert used(store_url) == 1


# ---------------------------------------------------------------- writers during an import

def test_client_writers_wait_for_an_import_that_updates_their_clients(
        run, store_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    """An update import reads the clients it matches once, under its reseller's lock:
    `client edit` and `client deactivate` of those clients wait for it (they take the
    same lock first), so the import never writes over them with stale values and the
    two never deadlock. Both stores (on SQLite the import's write lock does it)."""
    setup_acme(run, 10)
    seed = tmp_path / "seed.csv"
    seed.write_text("name,owner_name,owner_email,external_id\n"
                    "One,O,one@x.example,E-1\nTwo,O,two@x.example,E-2\n", encoding="utf-8")
    ok(run("client", "import", str(seed), "--reseller", "acme", "-o", "json"))
    uid = {c["external_id"]: c["uid"] for c in ok(run("client", "list", "-o", "json"))}
    env = cli_env(store_url, tmp_path)
    importer = subprocess.Popen(
        [str(BIN), "client", "import", "-", "--reseller", "acme", "--on-existing", "update",
         "-o", "json"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    writers: list[subprocess.Popen] = []
    try:
        importer.stdin.write("name,owner_name,owner_email,stage,external_id\n"
                             "One,O,one@x.example,active,E-1\n")
        importer.stdin.flush()
        deadline = time.monotonic() + 60
        while not acme_locked(store_url):  # the import holds its locks, awaiting more rows
            assert importer.poll() is None, importer.communicate()
            assert time.monotonic() < deadline, "the import never took its locks"
            time.sleep(0.01)
        writers = [spawn(env, "client", "edit", uid["E-1"], "--stage", "churned", "-o", "json"),
                   spawn(env, "client", "deactivate", uid["E-2"], "-o", "json")]
        time.sleep(1.0)
        assert [w.poll() for w in writers] == [None, None]  # both wait for the import
        out, err = importer.communicate("Two,O,two@x.example,lead,E-2\n", timeout=60)
        assert importer.returncode == 0, err
        assert (json.loads(out)["updated"], json.loads(out)["skipped"]) == (1, 1)
        for proc in writers:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
    finally:
        for proc in (importer, *writers):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    # the edit came after the import: lead -> active (import) -> churned (edit)
    shown = {c["external_id"]: c for c in ok(run("client", "list", "-o", "json"))}
    assert (shown["E-1"]["stage"], shown["E-2"]["status"]) == ("churned", "deactivated")
    trail = ok(run("audit", "list", "--entity", uid["E-1"], "-o", "json"))
    assert [(e["action"], e["changes"]["before"].get("stage"), e["changes"]["after"].get(
        "stage")) for e in reversed(trail) if e["action"] != "client.create"] == [
        ("client.import", "lead", "active"), ("client.edit", "active", "churned")]
    assert used(store_url) == 1
    ok(run("license", "reconcile", "-o", "json"))


def acme_locked(store_url: str) -> bool:
    """Another process holds the store's write lock (SQLite) or reseller acme's row
    (PostgreSQL)."""
    if store_url.startswith("sqlite:///"):
        return writing_started(store_url)
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from resellctl.store.engine import driver_url

    engine = create_engine(driver_url(store_url))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT id FROM reseller WHERE slug = 'acme' FOR UPDATE NOWAIT"))
            conn.rollback()
            return False
    except OperationalError as exc:
        assert "could not obtain lock" in str(exc), exc
        return True
    finally:
        engine.dispose()
