"""Engine and transaction factory: the only place that knows SQLite from PostgreSQL.

SQLite runs in WAL mode with foreign keys on and a busy timeout; write
transactions start with BEGIN IMMEDIATE so that a read-check-write cannot race.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from resellctl.domain.errors import Conflict, Invalid, ResellError, StoreUnavailable
from resellctl.files import create_private

if TYPE_CHECKING:  # SQLAlchemy is imported when an engine is made, not with this module
    from sqlalchemy.engine import Connection, Engine

# Alembic's head for this version of the package; tests check it against the scripts,
# so that a store command never has to import alembic.
HEAD_REVISION = "0007"
SQLITE_PAGE_SIZE = 8192
# SQLite's page cache (KiB) in a write transaction, and in a read one (SQLite's default).
# Bulk writes (the sweep) insert into indexes at spread-out places: with 2 MiB the pages
# they touch are evicted and read again, and dirty ones spilled to the WAL before the
# commit (the sweep: -10 % CPU with 64 MiB). Reads keep 2 MiB: a big cache made the
# dashboard's table scans ~8 % dearer (docs/performance.md, Subscriptions).
SQLITE_WRITE_CACHE_KIB = 65_536
SQLITE_READ_CACHE_KIB = 2_000
BUSY_TIMEOUT_MS = 30_000

# Up to the last `@`: a password typed with a raw `@` in it is hidden whole (at worst, a
# query holding an `@` is hidden with it).
_PASSWORD = re.compile(r"(?P<head>://[^:/@]*:).*(?P<tail>@)", re.DOTALL)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&]*", re.IGNORECASE)


def redact(url: str) -> str:
    """Hide the password of a database URL (in the authority or a `password=` parameter)."""
    return _QUERY_PASSWORD.sub(r"\g<head>***", _PASSWORD.sub(r"\g<head>***\g<tail>", url))


# The URLs a store may have. `postgres://` and `+psycopg2` (common in other tools' settings)
# run on psycopg 3 too; any other driver is refused rather than half-supported.
SQLITE_SCHEMES = ("sqlite", "sqlite+pysqlite")
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2")
URL_FORMS = "sqlite:///path/to/file.db or postgresql://user@host:5432/dbname"
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")


def backend(url: str) -> str:
    """`sqlite` or `postgresql`: the store a URL names. Any other URL is invalid input
    (exit 5), refused before a driver is loaded."""
    scheme = match["scheme"] if (match := _SCHEME.match(url)) and "\0" not in url else None
    if scheme in POSTGRES_SCHEMES:
        return "postgresql"
    if scheme in SQLITE_SCHEMES and sqlite_path(url) is not None:
        return "sqlite"
    if scheme in SQLITE_SCHEMES:
        why = " (a SQLite store is a file, named after three slashes; not in memory)"
    elif scheme and "+" in scheme:
        why = f" (driver `{scheme.partition('+')[2]}` is not supported)"
    else:
        why = ""
    shown = f"`{printable(redact(url))}`{why}" if url else "the URL is empty"
    raise Invalid(f"unsupported store URL: {shown}", code="unsupported_store_url",
                  hint=f"use {URL_FORMS}")


def printable(text: str) -> str:
    """`text` on one line: control characters (a newline, NUL) written as escapes."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def driver_url(url: str) -> str:
    """Map the user-facing URL onto the SQLAlchemy driver we ship (psycopg 3)."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def sqlite_path(url: str) -> Path | None:
    """The file behind a sqlite URL, or None for memory / other backends."""
    scheme, slashes, rest = url.partition(":///")
    if scheme not in SQLITE_SCHEMES or not slashes:
        return None
    # What SQLAlchemy's make_url reads as the database (tests check the two agree),
    # without importing SQLAlchemy: up to the query, decoded (%20 is a space).
    raw = unquote(rest.partition("?")[0])
    if not raw or raw == ":memory:":
        return None
    return Path(raw)


def _create_store_file(path: Path) -> None:
    """Create the store's file empty and private (0600) before SQLite opens it: SQLite
    gives the -wal and -shm files it makes next to it the same mode."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        create_private(path)
    except OSError as exc:
        raise StoreUnavailable(f"cannot create the store at {path}: {exc.strerror}",
                               hint="check the path and its folder's permissions") from exc


UNICODE_LOWER = "unicode_lower"  # SQL function on SQLite connections: Python's str.lower


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _set_up_sqlite(dbapi_connection: Any) -> None:
    """Every SQLite connection's settings (an engine's, and a prepared reader's)."""
    # We, not pysqlite, emit BEGIN, so that a write can choose IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # A new store gets 8 KiB pages (bulk inserts measured ~15% cheaper than with
    # 4 KiB); an existing store keeps its page size (the pragma is then a no-op).
    cursor.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()
    # SQLite's own lower() folds A-Z only; searches fold case like PostgreSQL's.
    dbapi_connection.create_function(UNICODE_LOWER, 1, _unicode_lower, deterministic=True)


def _configure_sqlite(engine: Engine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        _set_up_sqlite(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("write", False)
        cache = SQLITE_WRITE_CACHE_KIB if immediate else SQLITE_READ_CACHE_KIB
        conn.exec_driver_sql(f"PRAGMA cache_size = -{cache}")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def set_up_postgres(dbapi_connection: Any) -> None:
    """Every PostgreSQL connection of the store speaks DateStyle ISO, whatever the
    server's, the role's or PGDATESTYLE's: psycopg reads timestamps only in ISO (in
    `SQL, DMY` every command stopped with an internal error), and the CSV cells cast
    dates and timestamps to their text (store/sql.py). One round trip per connection;
    for a connection just opened (idle: no transaction of its own yet)."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True  # no transaction left open by the SET
    try:
        dbapi_connection.execute("SET DateStyle TO ISO")
    finally:
        dbapi_connection.autocommit = autocommit


def _configure_postgres(engine: Engine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        set_up_postgres(dbapi_connection)


def make_engine(url: str) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError

    given, url = url, driver_url(url)
    try:
        if backend(url) == "sqlite":
            engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
            _configure_sqlite(engine)
            return engine
        _quiet_driver_warnings()
        engine = create_engine(url, pool_pre_ping=False, connect_args={"connect_timeout": 5})
        _check_conninfo(engine)
        _configure_postgres(engine)
        return engine
    except (ArgumentError, ValueError) as exc:  # a mistyped URL is bad input, not a bug
        raise _invalid_url(given, exc) from exc


def _invalid_url(url: str, error: BaseException) -> Invalid:
    return Invalid(f"store URL `{printable(redact(url))}` is not valid: {_first_line(error)}",
                   code="invalid_database_url", hint=f"use {URL_FORMS}")


def _check_conninfo(engine: Engine) -> None:
    """Let libpq parse the URL's parameters now (`?sslmod=require` is a typo to report as
    bad input, not a driver error to meet at the first connection)."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import make_conninfo

    args, params = engine.dialect.create_connect_args(engine.url)
    driver_only = ("context", "autocommit", "prepare_threshold", "row_factory",
                   "cursor_factory")  # psycopg.connect's own arguments, not libpq's
    try:
        make_conninfo(*args, **{k: v for k, v in params.items() if k not in driver_only})
    except ProgrammingError as exc:
        raise ValueError(str(exc)) from exc


def _quiet_driver_warnings() -> None:
    """psycopg logs what it ignores while an interrupted command unwinds (Ctrl-C inside a
    pipeline: "error ignored terminating <Pipeline>"); with no handler configured, Python
    would print that on the user's stderr. The command's own error is what counts."""
    import logging

    driver = logging.getLogger("psycopg")
    if not driver.handlers:
        driver.addHandler(logging.NullHandler())


class Store:
    """A database reached by URL. Opens transactions; checks the schema once."""

    def __init__(self, url: str, *, check_schema: bool = True) -> None:
        self.url = url
        self.dialect = backend(url)
        self._engine: Engine | None = None
        self._schema_checked = not check_schema
        self._may_create = not check_schema  # `init` and `db ...` may create the store

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._sqlite_file()
            self._engine = make_engine(self.url)
        return self._engine

    def _sqlite_file(self) -> Path | None:
        """The SQLite store's file, created when this Store may create one (`init`,
        `db`); StoreUnavailable when it is missing. None for PostgreSQL."""
        path = sqlite_path(self.url)
        if path is not None and not path.exists():
            if not self._may_create:
                raise StoreUnavailable(f"no store at {path}",
                                       hint="run `resellctl init --admin-email EMAIL`")
            _create_store_file(path)
        return path

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: locks first on SQLite, commits on success."""
        with self._transaction(write=True) as conn:
            yield conn

    @contextmanager
    def read(self, *, stream: bool = False) -> Iterator[Connection]:
        """A read. On SQLite one transaction (one snapshot for all its statements). On
        PostgreSQL each statement on its own (autocommit): at READ COMMITTED a
        transaction gives each statement its own snapshot anyway, and its BEGIN and
        COMMIT were two of a point read's four round trips (docs/performance.md,
        Serve). `stream=True` keeps the transaction, which a server-side cursor
        (`yield_per`) needs."""
        with self._transaction(write=False, autocommit=not stream) as conn:
            yield conn

    @contextmanager
    def _transaction(self, *, write: bool, autocommit: bool = False) -> Iterator[Connection]:
        with translate_errors(self.url):
            conn = self.engine.connect().execution_options(write=write)
            if autocommit and self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                if not self._schema_checked:
                    self._check_schema(conn)
                with conn.begin():
                    yield conn
            finally:
                conn.close()

    def _check_schema(self, conn: Connection) -> None:
        current = current_revision(conn)
        if conn.in_transaction():
            conn.rollback()
        self._check_revision(current)

    def _check_revision(self, current: str | None) -> None:
        if current is None:
            raise StoreUnavailable(f"the store at {redact(self.url)} is not initialised",
                                   hint="run `resellctl init --admin-email EMAIL` "
                                        "or `resellctl db upgrade`")
        if current != HEAD_REVISION:
            raise StoreUnavailable(
                f"the store's schema is at revision {current}, this resellctl needs "
                f"{HEAD_REVISION}",
                hint="run `resellctl db upgrade` (or upgrade resellctl if the store is newer)")
        self._schema_checked = True

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """A read transaction for prepared SQL (domain/prepared.py) on the driver's own
        connection: the engine's pooled one when this Store has an engine (a server
        worker), else a new one, so that a command that only reads prepared SQL never
        imports SQLAlchemy (docs/performance.md, Reports)."""
        with translate_errors(self.url):
            dbapi = (self._engine.raw_connection() if self._engine is not None
                     else self._connect())
            try:
                reader = Reader(self.dialect, dbapi)
                if not self._schema_checked:
                    self._check_revision(reader.revision())
                if self.dialect == "sqlite":
                    reader.execute("BEGIN")
                yield reader
            except BaseException:
                _release(dbapi, quiet=True)  # the body's error is the one to report
                raise
            _release(dbapi, quiet=False)

    def _connect(self) -> Any:
        """A new driver connection, set up as the engine sets up its own."""
        if self.dialect == "sqlite":
            import sqlite3

            dbapi = sqlite3.connect(self._sqlite_file(), timeout=BUSY_TIMEOUT_MS / 1000)
            _set_up_sqlite(dbapi)
            return dbapi
        import psycopg

        _quiet_driver_warnings()
        conninfo = "postgresql://" + self.url.partition("://")[2]
        try:
            dbapi = psycopg.connect(conninfo, connect_timeout=5)
        except psycopg.ProgrammingError as exc:  # libpq could not parse the URL
            raise _invalid_url(self.url, exc) from exc
        try:
            set_up_postgres(dbapi)
        except BaseException:
            dbapi.close()
            raise
        return dbapi

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _release(dbapi: Any, *, quiet: bool) -> None:
    """End a read on a driver connection and let the connection go. A connection that
    cannot even roll back (the server went away) is invalidated when it is a pooled one,
    so that it is never handed out again, and closed (back to the pool, or shut) in every
    case; its error is raised unless `quiet`."""
    try:
        dbapi.rollback()  # a read: nothing to keep, and the transaction ends
    except Exception:
        invalidate = getattr(dbapi, "invalidate", None)  # SQLAlchemy's pooled connection
        if invalidate is not None:
            invalidate()
        if not quiet:
            raise
    finally:
        dbapi.close()


class Reader:
    """A driver connection that runs prepared SQL: statements compiled ahead for each
    store (domain/queries.py writes them into domain/prepared.py) with named
    parameters, rows back as tuples, as the driver gives them."""

    def __init__(self, dialect: str, dbapi: Any, *, run: Any = None) -> None:
        self.dialect, self._dbapi, self._run = dialect, dbapi, run

    @classmethod
    def over(cls, conn: Connection) -> Reader:
        """The same, inside a SQLAlchemy connection's transaction (a write that needs
        the prepared figures, such as `report snapshot`)."""
        return cls(conn.dialect.name, None,
                   run=lambda sql, params: conn.exec_driver_sql(sql, params).all())

    @property
    def driver(self) -> Any:
        """The driver's connection, for what streams (COPY, a cursor read in batches)."""
        return self._dbapi

    def rows(self, statement: dict[str, Any], **params: Any) -> list[Sequence[Any]]:
        """Run a prepared statement (its SQL and constants per store) with `params`."""
        sql, constants = statement[self.dialect]
        return self.execute(sql, {**constants, **self._adapted(params)})

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[Sequence[Any]]:
        if self._run is not None:
            return self._run(sql, params or {})
        cursor = self._dbapi.cursor()
        try:
            cursor.execute(sql, params or {})
            return cursor.fetchall() if cursor.description else []
        finally:
            cursor.close()

    def revision(self) -> str | None:
        """The schema's Alembic revision, None when the store has none."""
        try:
            rows = self.execute("SELECT version_num FROM alembic_version")
        except Exception as exc:
            if "alembic_version" not in str(exc) or type(exc).__name__ not in (
                    "OperationalError", "UndefinedTable"):
                raise
            self._dbapi.rollback()
            return None
        return rows[0][0] if rows else None

    def _adapted(self, params: dict[str, Any]) -> dict[str, Any]:
        """Values as the store holds them: SQLite keeps dates as ISO text (SQLAlchemy's
        Date type there); PostgreSQL's driver adapts them itself."""
        if self.dialect != "sqlite":
            return params
        if any(isinstance(v, datetime) for v in params.values()):
            raise TypeError("prepared SQL takes dates, not instants, on SQLite")
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in params.items()}


def current_revision(conn: Connection) -> str | None:
    from sqlalchemy import inspect, text

    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


@contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn driver errors into domain errors, never leaking a password."""
    try:
        yield
    except Exception as exc:
        sqlalchemy_errors = sys.modules.get("sqlalchemy.exc")  # loaded with any engine
        if sqlalchemy_errors and isinstance(exc, sqlalchemy_errors.DBAPIError):
            error = _domain_error(exc.orig, url)
            if error is None:
                raise
            raise error from exc
        # A driver's own error, from code that talks to the raw connection (COPY).
        error = (_domain_error(exc, url)
                 if type(exc).__module__.startswith(("psycopg", "sqlite3")) else None)
        if error is None:
            raise
        raise error from exc


def _domain_error(error: BaseException, url: str) -> ResellError | None:
    """The domain error for a driver's error (PEP 249 classes), or None to re-raise it."""
    kinds = {cls.__name__ for cls in type(error).__mro__}
    if getattr(error, "sqlstate", "") in ("40001", "40P01"):  # before OperationalError
        return StoreUnavailable("the store is busy: this command's transaction collided "
                                f"with another one's and was rolled back ({_first_line(error)})",
                                hint="retry the command: nothing was written")
    if "IntegrityError" in kinds:
        return Conflict("the change conflicts with an existing record",
                        hint=_first_line(error))
    if type(error).__name__ == "DatabaseError" and type(error).__module__ == "sqlite3":
        return StoreUnavailable(f"the store at {redact(url)} cannot be read: "
                                f"{_first_line(error)}", code="store_unreadable",
                                hint="check that the URL names a resellctl store; "
                                     "restore a backup if the file is damaged")
    if "OperationalError" in kinds:
        return StoreUnavailable(f"store unavailable at {redact(url)}: {_first_line(error)}",
                                hint="check the URL and that the database is running; "
                                     "retry later if it is busy")
    return None


def _first_line(error: object) -> str:
    return redact(str(error).strip().splitlines()[0]) if str(error).strip() else ""
