"""`init`, `db upgrade|status|backup`, and what store commands do on a store that is not ready."""

from __future__ import annotations

import os
import sqlite3
import stat
import tomllib
from pathlib import Path

import pytest

ADMIN = "admin@vendor.example"
UNREACHABLE = "postgresql://postgres:secret@127.0.0.1:1/x"


def _config(path: Path | None = None) -> dict:
    return tomllib.loads((path or Path(os.environ["RESELLCTL_CONFIG"])).read_text())


def _sql(url: str, statement: str, **params):  # noqa: ANN202
    from sqlalchemy import text

    from resellctl.store.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return result.all() if result.returns_rows else None
    finally:
        engine.dispose()


def _with_password(url: str, password: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.password:
        pytest.skip("the test server URL already carries a password")
    return parsed.set(password=password).render_as_string(hide_password=False)


# --- init -------------------------------------------------------------------------------


def test_init_creates_store_admin_catalog_and_profile(bare_run, empty_url):
    result = bare_run("--db", empty_url, "init", "--admin-email", "Ops@Vendor.Example",
                      "--admin-name", "Ops", "-o", "json")
    assert result.exit_code == 0, result.stderr
    from resellctl.store.engine import HEAD_REVISION

    assert result.json == {
        "database_url": empty_url, "revision_before": None, "revision": HEAD_REVISION,
        "admin_email": "ops@vendor.example", "created_admin": True,
        "loaded_default_catalog": True, "profile": "default",
        "config_path": os.environ["RESELLCTL_CONFIG"],
    }
    assert _config() == {"current_context": "default",
                         "contexts": {"default": {"db": empty_url,
                                                  "actor": "ops@vendor.example"}}}
    # The profile alone is now enough to run as the new super admin.
    who = bare_run("whoami", "-o", "json")
    assert who.exit_code == 0, who.stderr
    assert who.json == {"email": "ops@vendor.example", "name": "Ops", "is_super_admin": True,
                        "created_at": who.json["created_at"], "resellers": []}
    assert _sql(empty_url, "SELECT count(*) FROM license_tier")[0][0] > 0
    assert _sql(empty_url, "SELECT count(*) FROM plan")[0][0] > 0


def test_init_writes_the_config_file_with_mode_0600(bare_run, tmp_path):
    config = Path(os.environ["RESELLCTL_CONFIG"])
    config.parent.mkdir(parents=True)
    config.write_text("")
    config.chmod(0o644)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = bare_run("--db", url, "init", "--admin-email", ADMIN)
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_init_twice_changes_nothing(bare_run, empty_url):
    first = bare_run("--db", empty_url, "init", "--admin-email", ADMIN, "-o", "json")
    assert first.exit_code == 0, first.stderr
    config_before = Path(os.environ["RESELLCTL_CONFIG"]).read_bytes()
    tables = ("user_account", "audit_event", "plan", "license_tier", "setting")
    counts = {t: _sql(empty_url, f"SELECT count(*) FROM {t}")[0][0] for t in tables}

    second = bare_run("--db", empty_url, "init", "--admin-email", ADMIN, "-o", "json")
    assert second.exit_code == 0, second.stderr
    assert second.json["created_admin"] is False
    assert second.json["loaded_default_catalog"] is False
    assert second.json["revision_before"] == second.json["revision"] == first.json["revision"]
    assert {t: _sql(empty_url, f"SELECT count(*) FROM {t}")[0][0] for t in tables} == counts
    assert Path(os.environ["RESELLCTL_CONFIG"]).read_bytes() == config_before


def test_init_on_a_store_with_users(run, store_url):
    result = run("--db", store_url, "init", "--admin-email", "stranger@example.com")
    assert result.exit_code == 6
    assert result.stdout == ""
    assert "stranger@example.com" in result.stderr
    assert "Hint:" in result.stderr
    assert [r[0] for r in _sql(store_url, "SELECT email FROM user_account")] == [ADMIN]
    assert not Path(os.environ["RESELLCTL_CONFIG"]).exists()

    # An existing user may run it: nothing is created, the profile is saved.
    again = run("--db", store_url, "init", "--admin-email", ADMIN.upper(), "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert again.json["created_admin"] is False
    assert again.json["loaded_default_catalog"] is False
    assert _config()["contexts"]["default"] == {"db": store_url, "actor": ADMIN}


def test_init_with_a_new_profile_name_creates_that_profile(bare_run, tmp_path):
    keep = f"sqlite:///{tmp_path / 'a.db'}"
    assert bare_run("--db", keep, "init", "--admin-email", ADMIN).exit_code == 0
    url = f"sqlite:///{tmp_path / 'b.db'}"
    result = bare_run("--profile", "staging", "--db", url, "init", "--admin-email", ADMIN,
                      "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json["profile"] == "staging"
    config = _config()
    assert config["current_context"] == "default"
    assert config["contexts"] == {"default": {"db": keep, "actor": ADMIN},
                                  "staging": {"db": url, "actor": ADMIN}}


def test_init_without_a_url_uses_the_platform_data_dir(bare_run):
    result = bare_run("init", "--admin-email", ADMIN, "-o", "json")
    assert result.exit_code == 0, result.stderr
    expected = Path(os.environ["XDG_DATA_HOME"]) / "resellctl" / "resellctl.db"
    assert result.json["database_url"] == f"sqlite:///{expected}"
    assert expected.is_file()


def test_init_redacts_the_password_but_saves_it_in_the_profile(bare_run, empty_url):
    if not empty_url.startswith("postgresql"):
        pytest.skip("a password only means something on PostgreSQL")
    url = _with_password(empty_url, "s3cret-pw")  # the local server trusts, ignoring it
    result = bare_run("--db", url, "init", "--admin-email", ADMIN, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert ":***@" in result.json["database_url"]
    assert _config()["contexts"]["default"]["db"] == url


def test_init_rejects_an_invalid_admin_email(bare_run, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = bare_run("--db", url, "init", "--admin-email", "not-an-email")
    assert result.exit_code == 5
    assert result.stderr.startswith("Error: ")
    assert not Path(os.environ["RESELLCTL_CONFIG"]).exists()


def test_init_needs_an_admin_email(bare_run):
    result = bare_run("init")
    assert result.exit_code == 2
    assert "--admin-email" in result.stderr


# --- db upgrade / status ----------------------------------------------------------------


def test_db_upgrade_migrates_an_empty_store_then_does_nothing(bare_run, empty_url):
    from resellctl.store.engine import HEAD_REVISION

    first = bare_run("--db", empty_url, "db", "upgrade", "-o", "json")
    assert first.exit_code == 0, first.stderr
    assert first.json == {"revision_before": None, "revision": HEAD_REVISION, "changed": True}
    again = bare_run("--db", empty_url, "db", "upgrade", "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert again.json == {"revision_before": HEAD_REVISION, "revision": HEAD_REVISION,
                          "changed": False}
    status = bare_run("--db", empty_url, "db", "status", "-o", "json")
    assert status.json["current"] == HEAD_REVISION


def test_db_status_and_upgrade_on_an_initialised_store(run, store_url):
    from resellctl.store.engine import HEAD_REVISION

    result = run("db", "status", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json == {"database_url": store_url, "current": HEAD_REVISION,
                           "head": HEAD_REVISION, "up_to_date": True}
    upgrade = run("db", "upgrade", "-o", "json")
    assert upgrade.exit_code == 0, upgrade.stderr
    assert upgrade.json["changed"] is False
    assert run("whoami").exit_code == 0


def test_db_status_on_an_empty_store(bare_run, empty_url):
    from resellctl.store.engine import HEAD_REVISION

    result = bare_run("--db", empty_url, "db", "status", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json == {"database_url": empty_url, "current": None, "head": HEAD_REVISION,
                           "up_to_date": False}


def test_db_status_does_not_create_a_missing_sqlite_file(bare_run, tmp_path):
    path = tmp_path / "missing.db"
    result = bare_run("--db", f"sqlite:///{path}", "db", "status", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json["current"] is None
    assert not path.exists()


def test_db_upgrade_refuses_a_store_from_a_newer_version(run, store_url):
    _sql(store_url, "UPDATE alembic_version SET version_num = '9999'")
    result = run("db", "upgrade")
    assert result.exit_code == 75
    assert "9999" in result.stderr
    assert "Hint:" in result.stderr
    assert "Traceback" not in result.stderr
    assert _sql(store_url, "SELECT version_num FROM alembic_version") == [("9999",)]


# --- db backup --------------------------------------------------------------------------


def _sqlite_store(bare_run, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert bare_run("--db", url, "init", "--admin-email", ADMIN).exit_code == 0
    return url


def test_db_backup_copies_a_sqlite_store(bare_run, tmp_path):
    url = _sqlite_store(bare_run, tmp_path)
    created = bare_run("--db", url, "--as", ADMIN, "user", "create", "ana@partner.example")
    assert created.exit_code == 0, created.stderr
    target = tmp_path / "backups" / "copy.db"
    result = bare_run("--db", url, "db", "backup", str(target), "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json["backup"] == str(target)
    assert result.json["bytes"] == target.stat().st_size > 0
    with sqlite3.connect(target) as conn:
        emails = sorted(r[0] for r in conn.execute("SELECT email FROM user_account"))
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert emails == [ADMIN, "ana@partner.example"]
    assert not list(target.parent.glob(".*partial"))
    # The copy is a working store.
    who = bare_run("--db", f"sqlite:///{target}", "--as", "ana@partner.example", "whoami",
                   "-o", "json")
    assert who.exit_code == 0, who.stderr
    assert who.json["email"] == "ana@partner.example"


def test_db_backup_refuses_to_overwrite_the_store_itself(bare_run, tmp_path):
    url = _sqlite_store(bare_run, tmp_path)
    path = tmp_path / "store.db"
    result = bare_run("--db", url, "db", "backup", str(path))
    assert result.exit_code == 5
    assert result.stderr.startswith("Error: ")
    assert _sql(url, "SELECT email FROM user_account") == [(ADMIN,)]


def test_db_backup_of_a_missing_sqlite_store(bare_run, tmp_path):
    result = bare_run("--db", f"sqlite:///{tmp_path / 'none.db'}", "db", "backup",
                      str(tmp_path / "copy.db"))
    assert result.exit_code == 75
    assert not (tmp_path / "copy.db").exists()


def test_db_backup_on_postgres_says_to_use_pg_dump(run, store_url, tmp_path):
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL-only")
    result = run("db", "backup", str(tmp_path / "copy.db"))
    assert result.exit_code == 5
    assert result.stdout == ""
    assert "pg_dump" in result.stderr
    assert not (tmp_path / "copy.db").exists()
    as_json = run("db", "backup", str(tmp_path / "copy.db"), "-o", "json")
    assert as_json.exit_code == 5
    import json

    error = json.loads(as_json.stderr)["error"]
    assert error["exit_code"] == 5
    assert "pg_dump" in error["hint"]


# --- stores that are not ready: exit 75 -------------------------------------------------

STORE_COMMANDS = [
    ["whoami"],
    ["user", "create", "ana@partner.example"],
    ["settings", "set", "trial_days", "30"],
    ["audit", "list"],
]


def test_store_commands_on_an_uninitialised_store_exit_75(bare_run, empty_url):
    for command in STORE_COMMANDS:
        result = bare_run("--db", empty_url, "--as", ADMIN, *command)
        assert result.exit_code == 75, (command, result.stderr)
        assert result.stdout == ""
        assert result.stderr.startswith("Error: ")
        assert "Hint:" in result.stderr and "resellctl init" in result.stderr
        assert "Traceback" not in result.stderr


def test_an_empty_sqlite_file_is_not_initialised(bare_run, tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    result = bare_run("--db", f"sqlite:///{path}", "--as", ADMIN, "whoami")
    assert result.exit_code == 75
    assert "not initialised" in result.stderr
    assert "Hint:" in result.stderr


@pytest.mark.parametrize("command", [*STORE_COMMANDS, ["init", "--admin-email", ADMIN],
                                     ["db", "upgrade"], ["db", "status"]],
                         ids=lambda c: " ".join(c))
def test_an_unreachable_store_exits_75_without_leaking_the_password(bare_run, command):
    args = ["--db", UNREACHABLE, "--as", ADMIN, *command]
    result = bare_run(*args)
    assert result.exit_code == 75, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert "Hint:" in result.stderr
    assert "secret" not in result.stderr
    assert "Traceback" not in result.stderr

    as_json = bare_run(*args, "-o", "json")
    assert as_json.exit_code == 75
    assert as_json.stdout == ""
    assert "secret" not in as_json.stderr
    import json

    error = json.loads(as_json.stderr)["error"]
    assert error["exit_code"] == 75
    assert error["code"] == "store_unavailable"
    assert "127.0.0.1" in error["message"]
    assert error["hint"]
    assert not Path(os.environ["RESELLCTL_CONFIG"]).exists()


def test_an_unreachable_store_with_debug_still_hides_the_password(bare_run):
    result = bare_run("--debug", "--db", UNREACHABLE, "--as", ADMIN, "whoami")
    assert result.exit_code == 75
    assert "secret" not in result.stdout + result.stderr


@pytest.mark.parametrize("url", ["garbage://postgres:secret@127.0.0.1/x",
                                 "postgresql://postgres:secret@127.0.0.1:notaport/x",
                                 "not a url"])
def test_a_malformed_url_is_invalid_input_not_a_crash(bare_run, url):
    result = bare_run("--db", url, "--as", ADMIN, "whoami")
    assert result.exit_code == 5, result.stderr
    assert result.stderr.startswith("Error: ")
    assert "internal error" not in result.stderr
    assert "secret" not in result.stderr


def test_a_schema_not_at_head_exits_75(run, store_url):
    for revision in ("0000", "9999"):
        _sql(store_url, "UPDATE alembic_version SET version_num = :v", v=revision)
        result = run("whoami", "-o", "json")
        assert result.exit_code == 75
        assert result.stdout == ""
        import json

        error = json.loads(result.stderr)["error"]
        assert error["code"] == "store_unavailable"
        assert revision in error["message"]
        assert "db upgrade" in error["hint"]
        status = run("db", "status", "-o", "json")
        assert status.exit_code == 0
        assert (status.json["current"], status.json["up_to_date"]) == (revision, False)
