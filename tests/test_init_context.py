"""`init` never repoints a context silently, and reports in words what it did and what to
run next (`-o json` keeps its keys)."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from resellctl.store import migrate
from resellctl.store.engine import HEAD_REVISION, Store, redact

ADMIN = "admin@vendor.example"


def config_path() -> Path:
    return Path(os.environ["RESELLCTL_CONFIG"])


def contexts() -> dict:
    return tomllib.loads(config_path().read_text())["contexts"]


def revision(url: str) -> str | None:
    store = Store(url, check_schema=False)
    try:
        return migrate.status(store)["current"]
    finally:
        store.dispose()


def first_store(bare_run, tmp_path: Path, *, profile: str | None = None) -> str:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'first.db'}"
    options = ["--profile", profile] if profile else []
    result = bare_run(*options, "--db", url, "init", "--admin-email", ADMIN)
    assert result.exit_code == 0, result.stderr
    return url


def assert_refused(result, context: str, old: str) -> None:  # noqa: ANN001
    assert result.exit_code == 4, result.stderr
    assert result.stdout == ""
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "context_uses_another_store"
    assert error["message"] == f"context `{context}` already uses another store: {redact(old)}"
    assert "--profile NAME" in error["hint"] and "resellctl context create NAME" in error["hint"]


def test_init_on_another_store_changes_nothing_and_exits_4(bare_run, tmp_path, empty_url):
    old = first_store(bare_run, tmp_path)
    before = config_path().read_bytes()
    for how in ("option", "env"):
        args = ["--db", empty_url] if how == "option" else []
        env = {"RESELLCTL_DATABASE_URL": empty_url} if how == "env" else {}
        result = bare_run(*args, "init", "--admin-email", ADMIN, "-o", "json", env=env)
        assert_refused(result, "default", old)
    assert config_path().read_bytes() == before
    assert revision(empty_url) is None  # no store was created there
    if empty_url.startswith("sqlite:///"):
        assert not Path(empty_url[len("sqlite:///"):]).exists()
    text = bare_run("--db", empty_url, "init", "--admin-email", ADMIN)
    assert text.exit_code == 4
    assert text.stderr.startswith(f"Error: context `default` already uses another store: "
                                  f"{old}\nHint: give the new store a context of its own: "
                                  f"`resellctl --profile NAME --db {redact(empty_url)} init "
                                  f"--admin-email {ADMIN}`")


def test_init_with_a_profile_that_names_another_store(bare_run, tmp_path, empty_url):
    old = first_store(bare_run, tmp_path, profile="prod")
    before = config_path().read_bytes()
    result = bare_run("--profile", "prod", "--db", empty_url, "init", "--admin-email", ADMIN,
                      "-o", "json")
    assert_refused(result, "prod", old)
    assert config_path().read_bytes() == before
    assert revision(empty_url) is None
    # What the hint says works: a second context for the new store.
    second = bare_run("--profile", "staging", "--db", empty_url, "init", "--admin-email",
                      ADMIN, "-o", "json")
    assert second.exit_code == 0, second.stderr
    assert contexts() == {"prod": {"db": old, "actor": ADMIN},
                          "staging": {"db": empty_url, "actor": ADMIN}}
    assert revision(empty_url) == HEAD_REVISION


def test_init_on_the_same_store_spelled_another_way_is_idempotent(bare_run, tmp_path,
                                                                  monkeypatch):
    old = first_store(bare_run, tmp_path)
    before = config_path().read_bytes()
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite:///first.db", "sqlite+pysqlite:///./first.db"):
        result = bare_run("--db", url, "init", "--admin-email", ADMIN, "-o", "json")
        assert result.exit_code == 0, result.stderr
        assert result.json["created_admin"] is False
    assert config_path().read_bytes() == before  # the context keeps its own spelling
    assert contexts()["default"]["db"] == old


def test_init_into_a_context_with_no_store_yet(bare_run, empty_url):
    created = bare_run("context", "create", "work", "--as", ADMIN)
    assert created.exit_code == 0, created.stderr
    result = bare_run("--profile", "work", "--db", empty_url, "init", "--admin-email", ADMIN)
    assert result.exit_code == 0, result.stderr
    assert contexts()["work"] == {"db": empty_url, "actor": ADMIN}


# --- what init says ---------------------------------------------------------------------


def test_init_reports_in_words_and_ends_with_the_next_step(bare_run, empty_url):
    shown = redact(empty_url)
    first = bare_run("--db", empty_url, "init", "--admin-email", "you@example.com")
    assert first.exit_code == 0, first.stderr
    assert first.stderr == ""
    assert first.stdout == (
        f"Created the store at {shown} (schema revision {HEAD_REVISION}).\n"
        "Created super admin you@example.com.\n"
        "Loaded the default price catalog (2 plans).\n"
        f"Saved context default in {config_path()}.\n"
        "Next: resellctl reseller create --slug acme --name Acme --owner you@example.com\n")
    again = bare_run("--db", empty_url, "init", "--admin-email", "you@example.com")
    assert again.exit_code == 0, again.stderr
    assert again.stdout == (
        f"The store at {shown} is up to date (schema revision {HEAD_REVISION}).\n"
        "you@example.com is already a user of this store.\n"
        f"Saved context default in {config_path()}.\n"
        "Next: resellctl whoami\n")
    assert "revision_before" not in first.stdout + again.stdout


def test_init_names_the_upgrade_and_the_profile_to_use(bare_run, tmp_path, empty_url):
    first_store(bare_run, tmp_path)
    store = Store(empty_url, check_schema=False)
    try:
        migrate.upgrade(store, "0001")
    finally:
        store.dispose()
    result = bare_run("--profile", "old", "--db", empty_url, "init", "--admin-email", ADMIN)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (f"Upgraded the store at {redact(empty_url)} from schema revision "
                        f"0001 to {HEAD_REVISION}.")
    assert lines[-2:] == [f"Saved context old in {config_path()}.",
                          "Next: resellctl --profile old reseller create --slug acme "
                          f"--name Acme --owner {ADMIN}"]


def test_init_json_keeps_its_keys(bare_run, empty_url):
    result = bare_run("--db", empty_url, "init", "--admin-email", ADMIN, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert set(result.json) == {"database_url", "revision_before", "revision", "admin_email",
                                "created_admin", "loaded_default_catalog", "profile",
                                "config_path"}
