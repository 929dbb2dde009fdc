"""Assertion helpers shared by the test modules (importable: tests/ is on sys.path)."""

from __future__ import annotations


def ok(result):  # noqa: ANN001, ANN201
    """A success: exit 0, nothing on stderr, JSON on stdout (returned parsed)."""
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stderr == ""
    return result.json


def partner_reseller(run, owner: str, licences: int):  # noqa: ANN001, ANN201
    """Create user `owner` and the partner-supported reseller `acme` it owns."""
    ok(run("user", "create", owner, "-o", "json"))
    ok(run("reseller", "create", "--slug", "acme", "--name", "Acme", "--owner", owner,
           "--licenses", str(licences), "--partner-supported", "-o", "json"))
    return run
