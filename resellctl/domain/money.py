"""Money: integer cents everywhere; Decimal only to parse what people type."""

from __future__ import annotations

import re
from decimal import Decimal

from resellctl.domain.errors import Invalid

# ASCII only: `\d` alone would also take other scripts' digits (`١٢` -> 12.00).
_AMOUNT = re.compile(r"^\s*(?P<sign>[-+]?)(?P<units>\d{1,12})(?:\.(?P<cents>\d{1,2}))?\s*$",
                     re.ASCII)


def parse_amount(text: str, *, allow_negative: bool = False, field: str = "AMOUNT") -> int:
    """`100`, `99.95`, `-5` (when allowed) -> cents. No exponents, at most 2 decimals, not 0."""
    match = _AMOUNT.match(text or "")
    if not match:
        raise Invalid(f"{field} `{text}` is not an amount like 100 or 99.95",
                      code="invalid_amount")
    cents = int(Decimal(f"{match['units']}.{match['cents'] or '0'}") * 100)
    if match["sign"] == "-":
        if not allow_negative:
            raise Invalid(f"{field} `{text}` must be positive", code="invalid_amount")
        cents = -cents
    if cents == 0:
        raise Invalid(f"{field} must not be zero", code="invalid_amount")
    return cents


SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$",
           "BRL": "R$", "INR": "₹"}


def format_cents(cents: int, currency: str = "USD") -> str:
    """An amount as people read it: `$1,234.50`, `-$5.00`, `CHF 12.00` (no known symbol)."""
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), 100)
    symbol = SYMBOLS.get(currency)
    if symbol is None:
        return f"{sign}{currency} {units:,}.{rest:02d}"
    return f"{sign}{symbol}{units:,}.{rest:02d}"


def round_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-even, in integers (no float)."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient
