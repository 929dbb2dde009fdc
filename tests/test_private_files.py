"""The store's files are private: the SQLite file, its -wal and -shm files and `db backup`
copies are created mode 0600 whatever the umask, like the config file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from test_entrypoint import clean_env, entry_point

ADMIN = "admin@vendor.example"

# Run by a subprocess with the umask under test: opens the store with resellctl's own
# engine and, inside a write transaction (the -wal and -shm files exist), prints the modes.
MODES_DURING_A_WRITE = """
import os, sys
from sqlalchemy import text
from resellctl.store.engine import Store

path = sys.argv[1]
store = Store("sqlite:///" + path)
with store.write() as conn:
    conn.execute(text("UPDATE user_account SET name = 'x'"))
    for suffix in ("", "-wal", "-shm"):
        print(suffix or "db", oct(os.stat(path + suffix).st_mode & 0o777))
store.dispose()
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def resellctl(*args: str, umask: int, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([entry_point(), *args], env=env, capture_output=True, text=True,
                          timeout=60, umask=umask)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o000], ids=oct)
def test_store_wal_shm_and_backup_are_0600_whatever_the_umask(tmp_path, umask):
    env = clean_env(tmp_path)
    db = tmp_path / "data" / "store.db"
    url = f"sqlite:///{db}"
    created = resellctl("--db", url, "init", "--admin-email", ADMIN, umask=umask, env=env)
    assert created.returncode == 0, created.stderr
    assert mode(db) == 0o600

    during = subprocess.run([sys.executable, "-c", MODES_DURING_A_WRITE, str(db)], env=env,
                            capture_output=True, text=True, timeout=60, umask=umask)
    assert during.returncode == 0, during.stderr
    assert during.stdout.split() == ["db", "0o600", "-wal", "0o600", "-shm", "0o600"]

    copy = tmp_path / "backups" / "copy.db"
    backup = resellctl("--db", url, "db", "backup", str(copy), umask=umask, env=env)
    assert backup.returncode == 0, backup.stderr
    assert mode(copy) == 0o600
    config = Path(env["RESELLCTL_CONFIG"])
    assert mode(config) == 0o600


def test_db_upgrade_creates_the_store_private_too(bare_run, tmp_path):
    old = os.umask(0o022)
    try:
        db = tmp_path / "new" / "store.db"
        result = bare_run("--db", f"sqlite:///{db}", "db", "upgrade")
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.stderr
    assert mode(db) == 0o600


def test_a_backup_replaces_an_existing_file_with_a_private_one(bare_run, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert bare_run("--db", url, "init", "--admin-email", ADMIN).exit_code == 0
    target = tmp_path / "copy.db"
    target.write_text("old")
    target.chmod(0o644)
    (tmp_path / ".copy.db.partial").write_text("left by a killed run")
    result = bare_run("--db", url, "db", "backup", str(target))
    assert result.exit_code == 0, result.stderr
    assert mode(target) == 0o600
    assert not (tmp_path / ".copy.db.partial").exists()


def test_an_existing_store_keeps_the_mode_its_owner_gave_it(bare_run, tmp_path):
    """Decision: resellctl never changes the mode of a file it did not create (a team may
    share a store through a group); `init` on a store others can read says so."""
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    assert bare_run("--db", url, "init", "--admin-email", ADMIN).exit_code == 0
    db.chmod(0o644)
    again = bare_run("--db", url, "init", "--admin-email", ADMIN)
    assert again.exit_code == 0, again.stderr
    assert mode(db) == 0o644
    assert again.stderr == (f"Note: other users can open the store file (mode 0644): "
                            f"`chmod 600 {db}` makes it private.\n")
    assert bare_run("--db", url, "db", "upgrade").exit_code == 0
    assert mode(db) == 0o644
    as_json = bare_run("--db", url, "init", "--admin-email", ADMIN, "-o", "json")
    assert (as_json.exit_code, as_json.stderr) == (0, "")


def test_a_store_that_cannot_be_created_is_not_an_internal_error(bare_run, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    result = bare_run("--db", f"sqlite:///{blocker}/store.db", "init", "--admin-email", ADMIN)
    assert result.exit_code == 75, result.stderr
    assert result.stderr.startswith(f"Error: cannot create the store at {blocker}/store.db")
    backup_url = f"sqlite:///{tmp_path / 'store.db'}"
    assert bare_run("--db", backup_url, "init", "--admin-email", ADMIN).exit_code == 0
    backup = bare_run("--db", backup_url, "db", "backup", str(blocker / "copy.db"))
    assert backup.exit_code == 5, backup.stderr
    assert backup.stderr.startswith("Error: cannot write the backup at ")
