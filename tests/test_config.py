"""Contexts (profiles) in the config file, and option > env > profile > default."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path

import pytest

ADMIN = "admin@vendor.example"


def config_file() -> Path:
    return Path(os.environ["RESELLCTL_CONFIG"])


def read_config() -> dict:
    return tomllib.loads(config_file().read_text())


def write_config(text: str) -> None:
    config_file().parent.mkdir(parents=True, exist_ok=True)
    config_file().write_text(text)


def default_url() -> str:
    return f"sqlite:///{Path(os.environ['XDG_DATA_HOME']) / 'resellctl' / 'resellctl.db'}"


TWO_PROFILES = """
current_context = "a"
[contexts.a]
db = "sqlite:////stores/a.db"
actor = "a@example.com"
reseller = "acme"
[contexts.b]
db = "sqlite:////stores/b.db"
actor = "b@example.com"
"""


def show(bare_run, *args: str, env: dict[str, str] | None = None) -> dict:
    result = bare_run(*args, "context", "show", "-o", "json", env=env)
    assert result.exit_code == 0, result.stderr
    return result.json


# --- context create / list / show / use / delete ----------------------------------------


def test_context_create_first_becomes_current(bare_run):
    result = bare_run("context", "create", "prod", "--db", "sqlite:////srv/prod.db",
                      "--as", "Ops@Vendor.Example", "--reseller", "acme", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json == {"name": "prod", "current": True, "db": "sqlite:////srv/prod.db",
                           "actor": "ops@vendor.example", "reseller": "acme"}
    assert read_config() == {"current_context": "prod",
                             "contexts": {"prod": {"db": "sqlite:////srv/prod.db",
                                                   "actor": "ops@vendor.example",
                                                   "reseller": "acme"}}}

    second = bare_run("context", "create", "staging", "-o", "json")
    assert second.exit_code == 0, second.stderr
    assert second.json == {"name": "staging", "current": False, "db": None, "actor": None,
                           "reseller": None}
    assert read_config()["current_context"] == "prod"
    assert read_config()["contexts"]["staging"] == {}


def test_context_create_twice_is_a_conflict(bare_run):
    assert bare_run("context", "create", "prod").exit_code == 0
    before = config_file().read_bytes()
    result = bare_run("context", "create", "prod", "--as", "x@example.com")
    assert result.exit_code == 4
    assert "prod" in result.stderr
    assert config_file().read_bytes() == before


@pytest.mark.parametrize("args", [["--as", "not-an-email"], ["--reseller", "Not A Slug"]])
def test_context_create_validates_its_values(bare_run, args):
    result = bare_run("context", "create", "prod", *args)
    assert result.exit_code == 5
    assert result.stderr.startswith("Error: ")
    assert not config_file().exists()


def test_context_list_marks_current_and_redacts_passwords(bare_run):
    assert bare_run("context", "create", "b", "--db",
                    "postgresql://ops:hunter2@db.internal:5432/resell").exit_code == 0
    assert bare_run("context", "create", "a", "--as", "a@example.com").exit_code == 0
    result = bare_run("context", "list", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json == [
        {"name": "a", "current": False, "db": None, "actor": "a@example.com", "reseller": None},
        {"name": "b", "current": True, "db": "postgresql://ops:***@db.internal:5432/resell",
         "actor": None, "reseller": None},
    ]
    table = bare_run("context", "list")
    assert table.exit_code == 0
    assert "hunter2" not in table.stdout
    # The file keeps the real URL: it is what connects.
    assert read_config()["contexts"]["b"]["db"].endswith("ops:hunter2@db.internal:5432/resell")


def test_context_list_with_no_config_file_is_empty(bare_run):
    result = bare_run("context", "list", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json == []
    assert not config_file().exists()


def test_context_use_switches_the_current_context(bare_run):
    write_config(TWO_PROFILES)
    result = bare_run("context", "use", "b", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json["name"] == "b"
    assert result.json["current"] is True
    assert read_config()["current_context"] == "b"
    assert show(bare_run)["db"] == "sqlite:////stores/b.db"


def test_context_use_unknown_exits_3(bare_run):
    write_config(TWO_PROFILES)
    result = bare_run("context", "use", "nope")
    assert result.exit_code == 3
    assert "nope" in result.stderr
    assert "Hint:" in result.stderr
    assert read_config()["current_context"] == "a"


def test_context_delete(bare_run):
    write_config(TWO_PROFILES)
    result = bare_run("context", "delete", "b", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json["deleted"] is True
    assert set(read_config()["contexts"]) == {"a"}
    assert read_config()["current_context"] == "a"


def test_context_delete_current_unsets_it(bare_run):
    write_config(TWO_PROFILES)
    assert bare_run("context", "delete", "a").exit_code == 0
    config = read_config()
    assert "current_context" not in config
    assert set(config["contexts"]) == {"b"}
    assert show(bare_run) == {"profile": None, "db": default_url(), "actor": None,
                              "reseller": None, "config_path": str(config_file())}


def test_context_delete_unknown_exits_3(bare_run):
    write_config(TWO_PROFILES)
    before = config_file().read_bytes()
    result = bare_run("context", "delete", "nope")
    assert result.exit_code == 3
    assert config_file().read_bytes() == before


def test_falling_back_to_the_default_profile_reports_it(bare_run):
    write_config('[contexts.default]\ndb = "sqlite:////stores/d.db"\nactor = "d@example.com"\n')
    assert show(bare_run)["profile"] == "default"
    assert show(bare_run)["db"] == "sqlite:////stores/d.db"


# --- context show and redaction ---------------------------------------------------------


def test_context_show_resolves_the_current_profile(bare_run):
    write_config(TWO_PROFILES)
    assert show(bare_run) == {"profile": "a", "db": "sqlite:////stores/a.db",
                              "actor": "a@example.com", "reseller": "acme",
                              "config_path": str(config_file())}


@pytest.mark.parametrize("url, shown", [
    ("postgresql://ops:hunter2@db:5432/r", "postgresql://ops:***@db:5432/r"),
    ("postgresql://:hunter2@db/r", "postgresql://:***@db/r"),
    ("postgresql://ops@db/r?password=hunter2&sslmode=require",
     "postgresql://ops@db/r?password=***&sslmode=require"),
    ("postgresql://ops@db/r", "postgresql://ops@db/r"),
])
def test_context_show_redacts_passwords(bare_run, url, shown):
    result = bare_run("--db", url, "context", "show")
    assert result.exit_code == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert show(bare_run, "--db", url)["db"] == shown


# --- precedence: option > environment > profile > default -------------------------------


def test_defaults_without_any_config(bare_run):
    assert show(bare_run) == {"profile": None, "db": default_url(), "actor": None,
                              "reseller": None, "config_path": str(config_file())}


def test_config_path_defaults_to_the_platform_config_dir(bare_run, monkeypatch):
    monkeypatch.delenv("RESELLCTL_CONFIG")
    expected = Path(os.environ["XDG_CONFIG_HOME"]) / "resellctl" / "config.toml"
    assert show(bare_run)["config_path"] == str(expected)
    assert bare_run("context", "create", "x").exit_code == 0
    assert expected.is_file()


def test_profile_selection_precedence(bare_run):
    write_config(TWO_PROFILES)
    assert show(bare_run)["profile"] == "a"
    assert show(bare_run, env={"RESELLCTL_PROFILE": "b"})["profile"] == "b"
    assert show(bare_run, "--profile", "a", env={"RESELLCTL_PROFILE": "b"})["profile"] == "a"
    chosen = show(bare_run, "--profile", "b")
    assert (chosen["db"], chosen["actor"], chosen["reseller"]) == (
        "sqlite:////stores/b.db", "b@example.com", None)


def test_database_url_precedence(bare_run):
    write_config(TWO_PROFILES)
    env = {"RESELLCTL_DATABASE_URL": "sqlite:////stores/env.db"}
    assert show(bare_run)["db"] == "sqlite:////stores/a.db"
    assert show(bare_run, env=env)["db"] == "sqlite:////stores/env.db"
    assert show(bare_run, "--db", "sqlite:////stores/opt.db", env=env)["db"] == \
        "sqlite:////stores/opt.db"
    # An explicit profile still loses to the environment for the URL.
    assert show(bare_run, "--profile", "b", env=env)["db"] == "sqlite:////stores/env.db"


def test_actor_precedence(bare_run):
    write_config(TWO_PROFILES)
    env = {"RESELLCTL_ACTOR": "env@example.com"}
    assert show(bare_run)["actor"] == "a@example.com"
    assert show(bare_run, env=env)["actor"] == "env@example.com"
    assert show(bare_run, "--as", "opt@example.com", env=env)["actor"] == "opt@example.com"


def test_unknown_profile_exits_3(bare_run):
    write_config(TWO_PROFILES)
    for args, env in ((["--profile", "nope"], None), ([], {"RESELLCTL_PROFILE": "nope"})):
        result = bare_run(*args, "context", "show", env=env)
        assert result.exit_code == 3
        assert result.stdout == ""
        assert "nope" in result.stderr
        assert "context list" in result.stderr


def test_unknown_profile_exits_3_even_without_a_config_file(bare_run):
    result = bare_run("--profile", "nope", "whoami")
    assert result.exit_code == 3
    assert "nope" in result.stderr


# --- precedence against a real store ----------------------------------------------------


def test_profile_env_and_option_on_a_real_store(bare_run, store_url, tmp_path):
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    assert bare_run("context", "create", "live", "--db", store_url, "--as", ADMIN).exit_code == 0
    assert bare_run("context", "create", "dead", "--db", missing, "--as", ADMIN).exit_code == 0
    # The current profile ("live", the first created) supplies the store and the actor.
    result = bare_run("whoami", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json["email"] == ADMIN
    # Profile: option > environment > current.
    assert bare_run("--profile", "dead", "whoami").exit_code == 75
    assert bare_run("whoami", env={"RESELLCTL_PROFILE": "dead"}).exit_code == 75
    assert bare_run("--profile", "live", "whoami",
                    env={"RESELLCTL_PROFILE": "dead"}).exit_code == 0
    # Store URL: option > environment > profile.
    assert bare_run("whoami", env={"RESELLCTL_DATABASE_URL": missing}).exit_code == 75
    assert bare_run("--profile", "dead", "whoami",
                    env={"RESELLCTL_DATABASE_URL": store_url}).exit_code == 0
    assert bare_run("--db", missing, "whoami",
                    env={"RESELLCTL_DATABASE_URL": store_url}).exit_code == 75
    # Actor: option > environment > profile.
    ghost = {"RESELLCTL_ACTOR": "ghost@example.com"}
    assert bare_run("whoami", env=ghost).exit_code == 6
    assert bare_run("--as", ADMIN, "whoami", env=ghost).exit_code == 0
    assert bare_run("--as", "ghost@example.com", "whoami").exit_code == 6


# --- the file: atomic, 0600, clear errors -----------------------------------------------


def test_config_file_is_written_with_mode_0600(bare_run):
    write_config("")
    config_file().chmod(0o644)
    assert bare_run("context", "create", "prod").exit_code == 0
    assert stat.S_IMODE(config_file().stat().st_mode) == 0o600


def test_config_write_leaves_no_temporary_files(bare_run):
    for name in ("a", "b", "c"):
        assert bare_run("context", "create", name).exit_code == 0
    assert bare_run("context", "use", "b").exit_code == 0
    assert bare_run("context", "delete", "c").exit_code == 0
    assert sorted(p.name for p in config_file().parent.iterdir()) == ["config.toml"]


def test_a_failed_write_keeps_the_old_file(monkeypatch):
    import tomli_w

    from resellctl import config

    write_config(TWO_PROFILES)

    def broken_dump(data, handle):  # noqa: ANN001
        handle.write(b"current_context = ")  # half a file, then a crash
        raise OSError("disk full")

    monkeypatch.setattr(tomli_w, "dump", broken_dump)
    settings = config.load()
    settings.current = "b"
    with pytest.raises(OSError, match="disk full"):
        config.save(settings)
    assert config_file().read_text() == TWO_PROFILES
    assert sorted(p.name for p in config_file().parent.iterdir()) == ["config.toml"]


def test_save_then_load_round_trips(tmp_path):
    from resellctl import config

    path = tmp_path / "deep" / "dir" / "config.toml"
    original = config.Config(current="x", profiles={"x": {"db": "sqlite:////a b/é.db",
                                                          "actor": "x@example.com"}})
    assert config.save(original, path) == path
    assert config.load(path) == original
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("text", [
    "current_context = [",
    "this is not toml",
    "contexts = 5",
    "[contexts]\nprod = 1\n",
    "current_context = 3\n",
])
@pytest.mark.parametrize("command", [["context", "list"], ["context", "show"], ["whoami"]])
def test_an_invalid_config_file_is_a_clear_error(bare_run, text, command):
    write_config(text)
    result = bare_run(*command)
    assert result.exit_code == 5, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: config file {config_file()}")
    assert "Hint:" in result.stderr
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr


def test_an_invalid_config_file_as_json_error(bare_run):
    write_config("current_context = [")
    result = bare_run("context", "list", "-o", "json")
    assert result.exit_code == 5
    error = json.loads(result.stderr)["error"]
    assert error["exit_code"] == 5
    assert str(config_file()) in error["message"]


def test_a_non_utf8_config_file_is_a_clear_error(bare_run):
    config_file().parent.mkdir(parents=True)
    config_file().write_bytes(b'current_context = "\xff"\n')
    result = bare_run("context", "list")
    assert result.exit_code == 5
    assert "not valid TOML" in result.stderr
