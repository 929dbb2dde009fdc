"""Field validators shared by every service (and the importer's hot loop)."""

from __future__ import annotations

import re

from resellctl.domain.errors import Invalid

EMAIL = re.compile(r"^[^@\s,;<>()\[\]\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\Z")
SLUG = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
HOST = re.compile(r"^(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")
COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}\Z")
MAX_NAME = 200
_NO_DIGITS = str.maketrans("", "", "0123456789")


def email(value: str, field: str = "email") -> str:
    text = (value or "").strip().lower()
    if len(text) > 320 or not EMAIL.match(text):
        raise Invalid(f"{field} `{value}` is not a valid e-mail address", code="invalid_email")
    return text


def name(value: str | None, field: str = "name") -> str:
    text = (value or "").strip()
    if not text:
        raise Invalid(f"{field} must not be empty", code="invalid_name")
    if len(text) > MAX_NAME:
        raise Invalid(f"{field} is longer than {MAX_NAME} characters", code="invalid_name")
    return text


def optional_text(value: str | None, field: str, limit: int = MAX_NAME) -> str | None:
    text = (value or "").strip()
    if len(text) > limit:
        raise Invalid(f"{field} is longer than {limit} characters", code="invalid_text")
    return text or None


def slug(value: str) -> str:
    if not SLUG.match(value or ""):
        raise Invalid(f"slug `{value}` is invalid: use 1-63 lower-case letters, digits and "
                      "inner hyphens", code="invalid_slug")
    return value


def phone(value: str | None) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    digits = len(text) - len(text.translate(_NO_DIGITS))
    if not 6 <= digits <= 20 or len(text) > 64:
        raise Invalid(f"phone `{value}` must contain 6 to 20 digits", code="invalid_phone")
    return text


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def https_url(value: str, field: str, *, loopback_http: bool = False,
              any_http: bool = False) -> str:
    """An https URL (or, with loopback_http, http to this machine: `serve`'s pages; with
    any_http, http to any host: `context create --insecure-http`)."""
    from urllib.parse import urlsplit

    text = (value or "").strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    local = (parts is not None and parts.scheme == "http"
             and (any_http or (loopback_http and host in LOOPBACK)))
    if (not (local or (parts and parts.scheme == "https")) or not host or " " in text
            or len(text) > 2000):
        raise Invalid(f"{field} `{value}` must be an https:// URL"
                      + (" (or http:// to 127.0.0.1 or localhost)" if loopback_http else ""),
                      code="invalid_url")
    return text


API_TOKEN = re.compile(r"^rsl_[A-Za-z0-9_-]{43}\Z")


def api_token(value: str) -> bool:
    """Whether `value` has the shape of an API token (HTTP.md: `rsl_` + 43 characters)."""
    return bool(API_TOKEN.match(value or ""))


def colour(value: str, field: str) -> str:
    if not COLOUR.match(value or ""):
        raise Invalid(f"{field} `{value}` must be a colour like #1A2B3C", code="invalid_colour")
    return value.upper()


def host(value: str, field: str = "domain") -> str:
    text = (value or "").strip().lower().rstrip(".")
    if not HOST.match(text):
        raise Invalid(f"{field} `{value}` is not a valid host name", code="invalid_domain")
    return text


def non_negative(value: int, field: str) -> int:
    if value < 0:
        raise Invalid(f"{field} must be 0 or more (got {value})", code="invalid_number")
    return value


def positive(value: int, field: str) -> int:
    if value <= 0:
        raise Invalid(f"{field} must be 1 or more (got {value})", code="invalid_quantity")
    return value


MAX_COUNT = 2_147_483_647  # quantities and licence pools: the stores' INTEGER (int4) range
MAX_CENTS = 2_147_483_647  # amounts and balances ($21,474,836.47): the same columns' range


def count(value: int, field: str) -> int:
    """A quantity: 1 <= value <= MAX_COUNT (exit 5 otherwise)."""
    if positive(value, field) > MAX_COUNT:
        raise Invalid(f"{field} must be at most {MAX_COUNT:,} (got {value})",
                      code="invalid_quantity")
    return value


def amount(cents: int, field: str) -> int:
    """An amount in cents of at most MAX_CENTS either way (exit 5 otherwise)."""
    if abs(cents) > MAX_CENTS:
        raise Invalid(f"{field} must be at most {MAX_CENTS // 100:,}.{MAX_CENTS % 100:02d} "
                      f"in size (got {cents:,} cents)", code="invalid_amount")
    return cents
