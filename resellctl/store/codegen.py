"""Render resellctl/store/tables.py, a plain-Core mirror of the SQLModel models.

The SQLModel classes (models.py) define the schema and drive Alembic. Building
them costs ~100-300 ms of ORM mapping and pydantic work at import, which every
command would pay; commands only need Core tables, so they import the mirror.
tests/test_schema_mirror.py fails when the mirror is stale:
regenerate with `python -m resellctl.store.codegen`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TARGET = Path(__file__).with_name("tables.py")
HEADER = '''"""GENERATED from resellctl/store/models.py by `python -m resellctl.store.codegen`.

Do not edit: change models.py and regenerate. Commands import these Core tables
instead of the SQLModel classes, so that no command pays for ORM mapping.
"""

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from resellctl.store.types import UTCDateTime

metadata = MetaData()
'''


def _type(column: Any) -> str:
    kind = type(column.type).__name__
    if kind in ("AutoString", "String"):
        length = getattr(column.type, "length", None)
        return f"String({length})" if length else "String()"
    if kind in ("UTCDateTime", "Integer", "Boolean", "Date", "JSON"):
        return f"{kind}()"
    raise ValueError(f"codegen: no rendering for {kind} ({column.table.name}.{column.name})")


def _column(column: Any) -> str:
    parts = [repr(column.name), _type(column)]
    parts += [f"ForeignKey({fk.target_fullname!r})" for fk in column.foreign_keys]
    if column.primary_key:
        parts.append("primary_key=True")
    parts.append(f"nullable={column.nullable}")
    if column.unique:
        parts.append("unique=True")
    if column.index:
        parts.append("index=True")
    if column.default is not None and getattr(column.default, "is_scalar", False):
        parts.append(f"default={column.default.arg!r}")
    return f"    Column({', '.join(parts)}),"


def _constraints(table: Any) -> list[str]:
    from sqlalchemy import CheckConstraint, UniqueConstraint

    lines = []
    for item in table._sorted_constraints:  # declaration order, as CREATE TABLE has it
        if isinstance(item, CheckConstraint):
            lines.append(f"    CheckConstraint({str(item.sqltext)!r}, name={item.name!r}),")
        elif isinstance(item, UniqueConstraint):
            names = [c.name for c in item.columns]
            if len(names) == 1 and table.c[names[0]].unique:
                continue
            lines.append(f"    UniqueConstraint({', '.join(map(repr, names))}, "
                         f"name={item.name!r}),")
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        names = [c.name for c in index.columns]
        if len(names) == 1 and table.c[names[0]].index:
            continue
        lines.append(f"    Index({index.name!r}, {', '.join(map(repr, names))}, "
                     f"unique={index.unique}),")
    return lines


def render() -> str:
    from sqlmodel import SQLModel

    import resellctl.store.models  # noqa: F401  (registers the tables)

    chunks = [HEADER]
    for table in SQLModel.metadata.sorted_tables:
        body = [_column(c) for c in table.columns] + _constraints(table)
        chunks.append(f"\n{table.name} = Table(\n    {table.name!r},\n    metadata,\n"
                      + "\n".join(body) + "\n)\n")
    return "".join(chunks)


if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET}")
