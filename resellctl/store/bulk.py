"""Set-based writes of many rows inside the caller's transaction: a few statements per
table, never one per row, and no per-row work in SQLAlchemy.

PostgreSQL gets one binary COPY per insert, and per update a binary COPY into a
temporary table and one `UPDATE ... FROM` it (a few round trips, whatever the number of
rows). SQLite runs in this process, so there is no round trip to save: one statement
through the DB-API's executemany. Rows are tuples of what Core takes (int, str, date,
aware datetime; for JSON a dict, or a str of JSON text already serialized); for SQLite
the columns that need it are converted as SQLAlchemy's column types would (dates and
instants once per distinct value), and the values shared by every row (`constants`)
once. Measured on 100,000 rows (docs/performance.md, "Subscriptions"): Core's
executemany spent more time building parameters than the database spent writing them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import JSON, Column, MetaData, Table
from sqlalchemy.engine import Connection


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[tuple],
                **constants: Any) -> None:
    """INSERT rows (values in `columns` order), each with the same `constants`. On
    PostgreSQL the rows are streamed as they come: the server stores each batch while
    this process makes the next (give a generator to overlap the two)."""
    names = [*columns, *constants]
    quoted = ", ".join(_quoted(conn, c) for c in names)
    fixed = _for_driver(conn, table, list(constants), [tuple(constants.values())])[0]
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.dbapi_connection.cursor()
        with cursor, cursor.copy(f"COPY {_named(conn, table)} ({quoted}) "
                                 "FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([_copy_type(conn, table, c) for c in names])
            write = copy.write_row
            for row in _streamed(conn, table, columns, rows):
                write(row + fixed)
        return
    rows = _for_driver(conn, table, columns, list(rows))
    if rows:
        marks = ", ".join("?" * len(names))
        conn.exec_driver_sql(f"INSERT INTO {_named(conn, table)} ({quoted}) "
                             f"VALUES ({marks})", [row + fixed for row in rows])


def update_rows(conn: Connection, table: Table, key: str, columns: Sequence[str],
                rows: list[tuple], **constants: Any) -> None:
    """UPDATE `table` SET columns (and the constants, the same for every row) WHERE
    `key` = the row's first value; each row is (key, *values in `columns` order)."""
    if not rows:
        return
    fixed_names = list(constants)
    fixed = _for_driver(conn, table, fixed_names, [tuple(constants.values())])[0]
    if conn.dialect.name == "postgresql":
        _update_from_copy(conn, table, key, columns, rows, fixed_names, fixed)
        return
    target = _named(conn, table)
    sets = ", ".join(f"{_quoted(conn, c)} = ?{n}"  # ?1 is the key
                     for n, c in enumerate([*columns, *fixed_names], start=2))
    conn.exec_driver_sql(f"UPDATE {target} SET {sets} WHERE {_quoted(conn, key)} = ?1",
                         [row + fixed for row in _for_driver(conn, table, [key, *columns],
                                                             rows)])


def _update_from_copy(conn: Connection, table: Table, key: str, columns: Sequence[str],
                      rows: list[tuple], fixed_names: list[str], fixed: tuple) -> None:
    """PostgreSQL: the rows copied (binary COPY, formatted in C) into a temporary table of
    the same column types, then one UPDATE ... FROM it (the database role needs the
    TEMPORARY privilege, which PostgreSQL grants to every role by default). Array
    parameters would cost more: psycopg formats them in Python, 0.6-0.9 s for the
    sweep's 100,000 rows (docs/performance.md)."""
    given = [key, *columns]
    staging = Table(f"bulk_{table.name}", MetaData(),  # named in pg_temp: never a user's
                    *(Column(c, table.c[c].type) for c in given), prefixes=["TEMPORARY"],
                    schema="pg_temp", postgresql_on_commit="DROP")
    staging.create(conn)
    insert_rows(conn, staging, given, rows)
    target, source = _named(conn, table), _named(conn, staging)
    sets = [f"{_quoted(conn, c)} = v.{_quoted(conn, c)}" for c in columns]
    sets += [f"{_quoted(conn, c)} = %s" for c in fixed_names]
    conn.exec_driver_sql(f"UPDATE {target} SET {', '.join(sets)} FROM {source} AS v "
                         f"WHERE {target}.{_quoted(conn, key)} = v.{_quoted(conn, key)}",
                         fixed)
    staging.drop(conn)


def _named(conn: Connection, table: Table) -> str:
    """The table's name as SQL: quoted, and schema-qualified when it has a schema."""
    return conn.dialect.identifier_preparer.format_table(table)


def _quoted(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _copy_type(conn: Connection, table: Table, column: str) -> str:
    """The PostgreSQL type name psycopg's binary COPY wants (`varchar`, not `varchar(32)`;
    `text` for JSON, whose binary input is its text)."""
    type_ = table.c[column].type
    if isinstance(type_, JSON):
        return "text"
    return re.sub(r"\(.*\)", "", type_.compile(dialect=conn.dialect)).lower()


def _for_driver(conn: Connection, table: Table, columns: Sequence[str],
                rows: list[tuple]) -> list[tuple]:
    """The rows with each value as the driver takes it: JSON as text (a str is taken as
    JSON text already); on SQLite, dates and instants as SQLAlchemy stores them."""
    converters = [_converter(conn, table.c[c].type) for c in columns]
    if not any(converters):
        return rows
    cells = [list(map(convert, column)) if convert else column
             for convert, column in zip(converters, zip(*rows, strict=True), strict=True)]
    return list(zip(*cells, strict=True))


def _streamed(conn: Connection, table: Table, columns: Sequence[str],
              rows: Iterable[tuple]) -> Iterable[tuple]:
    """_for_driver one row at a time (PostgreSQL: only JSON is converted)."""
    converters = [_converter(conn, table.c[c].type) for c in columns]
    if not any(converters):
        return rows
    return (tuple(convert(value) if convert else value
                  for convert, value in zip(converters, row, strict=True)) for row in rows)


def _json_text(value: Any) -> Any:
    """JSON text as SQLAlchemy's JSON type writes it (json.dumps); a str is JSON text."""
    return value if value is None or value.__class__ is str else json.dumps(value)


def _converter(conn: Connection, type_: Any) -> Callable[[Any], Any] | None:
    if isinstance(type_, JSON):
        return _json_text
    if conn.dialect.name == "postgresql":
        return None  # psycopg takes dates, instants and numbers as they are
    process = type_.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    if process is None:
        return process
    memo: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return memo[value]
        except KeyError:
            memo[value] = process(value)
            return memo[value]
    return convert
