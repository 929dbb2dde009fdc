"""Domain error kinds. Each carries a stable slug `code`, a message and an optional hint.

The CLI maps kinds to exit codes in one place (resellctl.cli.errors); a future
HTTP API maps the same kinds to status codes.
"""

from __future__ import annotations


class ResellError(Exception):
    """Base of every error a user can cause or fix."""

    code = "error"

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None,
                 details: list | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or []
        if code:
            self.code = code


class NotFound(ResellError):
    code = "not_found"


class Conflict(ResellError):
    code = "conflict"


class Invalid(ResellError):
    code = "invalid"


class FieldInvalid(Invalid):
    """An invalid value of one named field (a CSV column, a command option)."""

    def __init__(self, column: str, message: str, **kw) -> None:
        super().__init__(message, **kw)
        self.column = column


class Denied(ResellError):
    code = "denied"


class Unauthenticated(Denied):
    """A missing, malformed, unknown, expired or revoked API token (HTTP 401)."""

    code = "unauthorized"


class Insufficient(ResellError):
    code = "insufficient"


class Partial(ResellError):
    """A bulk command did part of the work, or a check found problems."""

    code = "partial"

    def __init__(self, message: str, *, result: object = None, **kw) -> None:
        super().__init__(message, **kw)
        self.result = result


class StoreUnavailable(ResellError):
    code = "store_unavailable"


class UsageError(ResellError):
    """A usage problem found after parsing (e.g. a refused confirmation)."""

    code = "usage"
