"""The one clock. Every rule that reads the time calls now() or today()."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

from resellctl.domain.errors import Invalid


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant; naive values are taken as UTC. Returns aware UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise Invalid(f"`{text}` is not an ISO 8601 instant",
                      hint="use e.g. 2026-01-31T09:00:00Z") from exc
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def now() -> datetime:
    """Current instant (aware, UTC), honouring RESELLCTL_NOW."""
    fixed = os.environ.get("RESELLCTL_NOW")
    if fixed:
        return parse_instant(fixed)
    return datetime.now(UTC)


def today() -> date:
    return now().date()


def iso(value: datetime | None) -> str | None:
    """Format an instant as ISO 8601 UTC with Z (naive values are UTC)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat() + "Z"


def start_of_day(day: date) -> datetime:
    """00:00 UTC on `day`: what a `--since DATE` filter starts from."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_date(text: str, field: str = "date") -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise Invalid(f"{field} `{text}` is not a date like 2026-01-31",
                      code="invalid_date") from exc
