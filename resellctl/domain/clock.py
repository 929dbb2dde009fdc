"""The one clock. Every rule that reads the time calls now() or today()."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime

from resellctl.domain.errors import Invalid

FIRST_YEAR, LAST_YEAR = 1900, 9998  # RESELLCTL_NOW's range: dates a year or two away stay dates

# The instant `frozen` pins (None: the real clock, or RESELLCTL_NOW).
_pinned: ContextVar[datetime | None] = ContextVar("resellctl_now", default=None)


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
    """Current instant (aware, UTC): a `frozen` block's instant, else RESELLCTL_NOW, else
    the system clock."""
    pinned = _pinned.get()
    if pinned is not None:
        return pinned
    fixed = os.environ.get("RESELLCTL_NOW")
    if fixed:
        value = parse_instant(fixed)
        if not FIRST_YEAR <= value.year <= LAST_YEAR:  # the rules reach years around now
            raise Invalid(f"RESELLCTL_NOW `{fixed}` is out of range: years {FIRST_YEAR} "
                          f"to {LAST_YEAR}", code="invalid_now")
        return value
    return datetime.now(UTC)


def today() -> date:
    return now().date()


@contextmanager
def frozen(instant: datetime) -> Iterator[datetime]:
    """Run a block as if it were `instant` (naive values are UTC): every rule inside reads
    this clock, so a history can be written at past instants (the sample data)."""
    aware = instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
    token = _pinned.set(aware)
    try:
        yield aware
    finally:
        _pinned.reset(token)


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
