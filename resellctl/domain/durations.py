"""Durations typed by people: `30m`, `8h`, `7d`, `2w`."""

from __future__ import annotations

import re
from datetime import timedelta

from resellctl.domain.errors import Invalid

_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*\Z", re.ASCII)
MAX = timedelta(days=36_525)  # 100 years: now + MAX stays a date every store can hold
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse(text: str, field: str = "duration") -> timedelta:
    match = _DURATION.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise Invalid(f"{field} `{text}` is not a duration like 30m, 8h, 7d or 2w",
                      code="invalid_duration")
    value = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if value > MAX:
        raise Invalid(f"{field} `{text}` is longer than 100 years (36525d)",
                      code="invalid_duration")
    return value


def render(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for suffix, size in (("d", 86400), ("h", 3600), ("m", 60)):  # 7d stays 7d, not 1w
        if seconds % size == 0:
            return f"{seconds // size}{suffix}"
    return f"{seconds}s"
