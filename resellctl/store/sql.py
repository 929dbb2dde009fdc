"""Small dialect-aware SQL expressions, so hot read paths format in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, func, literal_column, type_coerce


def iso_instant(column: Any, dialect: str) -> Any:
    """An instant column as ISO 8601 UTC text with Z (NULL stays NULL)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column),
                            literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"))
    return func.strftime("%Y-%m-%dT%H:%M:%SZ", type_coerce(column, String))
