"""Column types shared by the SQLModel models and the generated Core tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import types


class UTCDateTime(types.TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out (SQLite keeps UTC without an offset)."""

    impl = types.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def __repr__(self) -> str:
        return "UTCDateTime()"

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("instants must be timezone-aware (use resellctl.domain.clock.now)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
