"""Small dialect-aware SQL expressions, so hot read paths format in the database."""

from __future__ import annotations

from typing import Any, TextIO

from sqlalchemy import String, Text, and_, case, cast, func, literal_column, null, type_coerce
from sqlalchemy.engine import Connection

from resellctl.store import copyout


def iso_instant(column: Any, dialect: str) -> Any:
    """An instant column as ISO 8601 UTC text with Z, to the second (NULL stays NULL).
    On PostgreSQL the timestamp's own text, `2027-01-31 09:30:00` in the DateStyle ISO
    of every store connection (engine.set_up_postgres; to_char costs 0.27 against
    0.20 s of CPU per 300,000 values, docs/performance.md, Subscriptions)."""
    if dialect == "postgresql":
        whole = func.date_trunc("second", func.timezone("UTC", column))
        return (func.replace(cast(whole, Text), " ", "T")
                + literal_column("'Z'", String))
    # SQLite keeps instants as SQLAlchemy writes them, UTC `2027-01-31 09:30:00.000000`:
    # the date, T, the time to the second, Z. What strftime('%Y-%m-%dT%H:%M:%SZ') gives,
    # without parsing and formatting each one (0.7 against 0.35 µs, docs/performance.md)
    text = type_coerce(column, String)
    return (func.substr(text, 1, 10) + literal_column("'T'", String)
            + func.substr(text, 12, 8) + literal_column("'Z'", String))


def iso_date(column: Any, dialect: str) -> Any:
    """A date column as ISO 8601 text, 2027-01-31 (NULL stays NULL). On PostgreSQL the
    date's own text in the store connections' DateStyle ISO (engine.set_up_postgres;
    to_char costs 0.17 against 0.06 s of CPU per 300,000 values)."""
    if dialect == "postgresql":
        return cast(column, Text)
    return type_coerce(column, String)  # SQLite keeps dates as that text


def spreadsheet_safe(column: Any, formula_start: tuple[str, ...], dialect: str) -> Any:
    """A text column with a leading quote added where a spreadsheet would see a formula
    (the characters written into the SQL: a prepared statement holds no IN list of
    parameters, domain/queries.py). PostgreSQL looks the first character up in the
    string of them, strpos(), at half the CPU of an IN list of substr()'s text (not
    ascii(), cheaper still: it fails on a non-ASCII first character in a multibyte
    encoding other than UTF-8, EUC_JP...); the empty string stays as it is."""
    if dialect == "postgresql":
        starts = "".join(formula_start).replace("'", "''")
        first = and_(func.strpos(literal_column(f"'{starts}'", String),
                                 func.left(column, 1)) > 0, column != "")
    else:
        starts = ", ".join("'" + start.replace("'", "''") + "'" for start in formula_start)
        first = func.substr(column, 1, 1).op("IN")(literal_column(f"({starts})"))
    return case((first, literal_column("''''", String) + column), else_=column)


def true_false(column: Any) -> Any:
    """A boolean column as the text true/false (NULL stays NULL)."""
    return case((column.is_(None), null()), (column, "true"), else_="false")


def text_cells(query: Any) -> Any:
    """The query with every column as a CSV cell in text, as csv.writer writes it:
    integers as their digits, NULL as the empty string. For SQLite, whose rows the CSV
    export formats in Python: cells all text are joined (csvfile.write_rows), without
    csv.writer's look at each cell. Text stays as it is, and a NOT NULL column of the
    query's first table is not wrapped (each wrap costs SQLite a step per row; a
    joined table's columns can be NULL where the join finds no row)."""
    froms = query.get_final_froms()
    base = froms[0] if froms else None
    while base is not None and hasattr(base, "left"):  # the leftmost table of the joins
        base = base.left
    return query.with_only_columns(*(_text_cell(column, base)
                                     for column in query.selected_columns),
                                   maintain_column_froms=True)


def _text_cell(column: Any, base: Any) -> Any:
    value = column.element if hasattr(column, "element") else column
    cell = value if isinstance(column.type, String) else cast(value, Text)
    if getattr(value, "table", None) is not base or getattr(value, "nullable", True):
        cell = func.coalesce(cell, "")
    return cell.label(column.name)


def copy_csv(conn: Connection, query: Any, out: TextIO) -> None:
    """PostgreSQL formats the rows: COPY (query) TO STDOUT as CSV with a header
    (store/copyout.copy_csv; COPY takes no parameters: psycopg binds them into the
    text client-side, ClientCursor.mogrify quoting and escaping each value)."""
    compiled = query.compile(dialect=conn.dialect,
                             compile_kwargs={"render_postcompile": True})
    copyout.copy_csv(conn.connection.dbapi_connection, str(compiled), compiled.params, out)

