"""Assertion helpers shared by the test modules (importable: tests/ is on sys.path)."""

from __future__ import annotations


def ok(result):  # noqa: ANN001, ANN201
    """A success: exit 0, nothing on stderr, JSON on stdout (returned parsed)."""
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stderr == ""
    return result.json
