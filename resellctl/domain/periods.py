"""Billing periods: the intervals a plan is sold by, and calendar-month arithmetic.

Kept apart from `subscriptions` (and its imports) so that the reports, which only need
this arithmetic, start without loading the subscription services."""

from __future__ import annotations

import calendar
from datetime import date

INTERVALS = {"monthly": 1, "quarterly": 3, "biannual": 6, "yearly": 12}  # months each


def add_months(day: date, months: int, anchor: int | None = None) -> date:
    """`day` moved by whole calendar months; the day of month is `anchor` (default:
    `day`'s own), clamped to the month's length, so a period that started on the 31st
    ends on the 31st whenever the month has one."""
    year, index = divmod(day.month - 1 + months, 12)
    year += day.year
    last = calendar.monthrange(year, index + 1)[1]
    return date(year, index + 1, min(anchor or day.day, last))
