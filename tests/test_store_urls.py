"""Store URLs: every URL that names no store resellctl can open is a clear exit 5
(`unsupported_store_url`), from --db, RESELLCTL_DATABASE_URL or a context; fuzzed."""

from __future__ import annotations

import json
import os
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ADMIN = "admin@vendor.example"
SECRET = "pw-Sekr1t"
FORMS = ("sqlite:///path/to/file.db", "postgresql://user@host:5432/dbname")
UNSUPPORTED = [
    f"mysql://ops:{SECRET}@db.example/resell",
    "http://example.com/store",
    f"postgresql+asyncpg://ops:{SECRET}@127.0.0.1:1/x",
    f"postgresql+pg8000://ops:{SECRET}@127.0.0.1:1/x",
    "sqlite+pysqlcipher:///store.db",
    "::::",
    "",
    "store.db",
    "/home/you/store.db",
    "SQLITE:///store.db",
    "sqlite:store.db",
    "sqlite://",
    "sqlite:///",
    "sqlite:///:memory:",
    f"oracle://ops:{SECRET}@host/db",
    f"mysql://ops:{SECRET[:3]}@{SECRET[3:]}@db.example/resell",  # a raw @ in the password
]
COMMANDS = [["whoami"], ["db", "status"], ["db", "upgrade"], ["db", "backup", "copy.db"],
            ["init", "--admin-email", ADMIN], ["settings", "show"]]


def _config() -> Path:
    return Path(os.environ["RESELLCTL_CONFIG"])


def assert_unsupported(result, url: str) -> None:  # noqa: ANN001
    assert result.exit_code == 5, (url, result.stderr)
    assert result.stdout == ""
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "unsupported_store_url"
    assert error["message"].startswith("unsupported store URL: ")
    assert all(form in error["hint"] for form in FORMS)
    assert SECRET[3:] not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("url", UNSUPPORTED)
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unsupported_url_is_exit_5_and_writes_nothing(bare_run, tmp_path, monkeypatch,
                                                         url, command):
    monkeypatch.chdir(tmp_path)  # relative paths in the URLs would land here
    for how in ("option", "env"):
        args = ["--db", url] if how == "option" else []
        env = {"RESELLCTL_DATABASE_URL": url} if how == "env" else {}
        assert_unsupported(bare_run(*args, "--as", ADMIN, *command, "-o", "json", env=env),
                           url)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert not _config().exists()


def test_the_text_error_shows_the_two_forms(bare_run):
    result = bare_run("--db", f"mysql://ops:{SECRET}@db.example/resell", "whoami")
    assert result.exit_code == 5
    assert result.stderr == (
        "Error: unsupported store URL: `mysql://ops:***@db.example/resell`\n"
        f"Hint: use {FORMS[0]} or {FORMS[1]}\n")
    driver = bare_run("--db", "postgresql+asyncpg://db.example/resell", "whoami")
    assert "driver `asyncpg` is not supported" in driver.stderr
    empty = bare_run("whoami", env={"RESELLCTL_DATABASE_URL": ""})
    assert (empty.exit_code, empty.stderr.splitlines()[0]) == (
        5, "Error: unsupported store URL: the URL is empty")


def test_a_context_with_an_unsupported_url(bare_run):
    _config().parent.mkdir(parents=True)
    _config().write_text('current_context = "old"\n'
                         f'[contexts.old]\ndb = "mysql://ops:{SECRET}@db/x"\n')
    assert_unsupported(bare_run("--as", ADMIN, "whoami", "-o", "json"), "context")
    # `context create` refuses it before writing anything.
    before = _config().read_text()
    created = bare_run("context", "create", "new", "--db", f"mysql://ops:{SECRET}@db/x",
                       "-o", "json")
    assert_unsupported(created, "context create")
    assert _config().read_text() == before


def _spellings(url: str) -> list[str]:
    """The other ways to write the same store's URL that resellctl accepts."""
    if url.startswith("sqlite:///"):
        return [url.replace("sqlite://", "sqlite+pysqlite://", 1)]
    rest = url.split("://", 1)[1]
    return [f"{scheme}://{rest}"
            for scheme in ("postgres", "postgresql+psycopg", "postgresql+psycopg2")]


def test_the_accepted_driver_spellings_reach_the_store(run, store_url):
    for url in _spellings(store_url):
        result = run("--db", url, "whoami", "-o", "json")
        assert result.exit_code == 0, (url, result.stderr)
        assert result.json["email"] == ADMIN


def test_a_percent_encoded_sqlite_path_is_the_decoded_file(bare_run, tmp_path):
    url = f"sqlite:///{tmp_path}/my%20store.db"
    assert bare_run("--db", url, "init", "--admin-email", ADMIN).exit_code == 0
    assert (tmp_path / "my store.db").is_file()
    assert not (tmp_path / "my%20store.db").exists()
    backup = bare_run("--db", url, "db", "backup", str(tmp_path / "copy.db"))
    assert backup.exit_code == 0, backup.stderr


def test_a_file_that_is_not_a_store_is_not_an_internal_error(bare_run, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database, but long enough to be read as one. " * 20)
    result = bare_run("--db", f"sqlite:///{path}", "--as", ADMIN, "whoami", "-o", "json")
    assert result.exit_code == 75, result.stderr
    assert json.loads(result.stderr)["error"]["code"] == "store_unreadable"


def test_an_unknown_postgres_parameter_is_invalid_input(bare_run):
    result = bare_run("--db", f"postgresql://ops:{SECRET}@127.0.0.1:1/x?sslmod=require",
                      "whoami", "-o", "json")
    assert result.exit_code == 5, result.stderr
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "invalid_database_url"
    assert "sslmod" in error["message"] and SECRET not in result.stderr


# --- fuzz ---------------------------------------------------------------------------------

URL_TEXT = string.ascii_letters + string.digits + ":/@?&=%+._-[]# \\\n"
SCHEMES = st.sampled_from([
    "sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg",
    "postgresql+psycopg2", "postgresql+asyncpg", "postgresql+psycopg_async", "sqlite+aiosqlite",
    "mysql", "mysql+pymysql", "mssql+pyodbc", "oracle", "http", "https", "file", "SQLite",
    "PostgreSQL", "postgresql+", "+", "",
]) | st.from_regex(r"[A-Za-z][A-Za-z0-9+.-]{0,12}", fullmatch=True)


@st.composite
def crafted_urls(draw: st.DrawFn, root: Path) -> str:
    """A URL with a scheme that may or may not be supported, a password, and a random tail.
    A postgres URL aims at a closed port and a sqlite one into the test's folder, so that
    no example waits on the network or writes outside the test."""
    scheme = draw(SCHEMES)
    tail = draw(st.text(URL_TEXT, max_size=30))
    if scheme.startswith("postgres"):
        query = draw(st.sampled_from(["", "?sslmode=disable", "?sslmode=bogus", "?bad=1",
                                      "?connect_timeout=x", "?password=x", "?host=/none"]))
        return f"{scheme}://ops:{SECRET}@127.0.0.1:1/{tail}{query}".replace("\\", "")
    if scheme.startswith("sqlite"):
        return f"{scheme}:///{root}/{tail}"
    return f"{scheme}://ops:{SECRET}@{tail}"


FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _assert_clear(result, url: str) -> None:  # noqa: ANN001
    assert result.exit_code in (0, 5, 75), (url, result.exit_code, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert "internal error" not in result.stderr
    assert SECRET not in result.stdout + result.stderr, url
    if result.exit_code:
        assert json.loads(result.stderr)["error"]["exit_code"] == result.exit_code


@FUZZ
@given(data=st.data())
def test_fuzz_store_urls_from_the_option_and_the_environment(bare_run, tmp_path, data):
    url = data.draw(crafted_urls(tmp_path) | st.text(max_size=40), label="url")
    command = data.draw(st.sampled_from([["whoami"], ["db", "status"]]), label="command")
    as_option = bare_run("--db", url, "--as", ADMIN, *command, "-o", "json")
    _assert_clear(as_option, url)
    if "\0" not in url:  # an environment variable cannot hold NUL
        as_env = bare_run("--as", ADMIN, *command, "-o", "json",
                          env={"RESELLCTL_DATABASE_URL": url})
        _assert_clear(as_env, url)
        assert as_env.exit_code == as_option.exit_code or not url, url
    assert not any(tmp_path.glob("**/*.db")), "a read command created a store"
