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


def three_resellers(conn, member: str, now) -> dict[str, int]:  # noqa: ANN001
    """Bulk SQL on a store's write connection: user `member`, the resellers acme, beta
    and gamma (owned by it), and its memberships: admin of acme, viewer of beta, nothing
    in gamma. Returns the resellers' ids by slug."""
    from sqlalchemy import insert, select

    from resellctl.store import tables

    conn.execute(insert(tables.user_account).values(
        email=member, name="Mia", is_super_admin=False, created_at=now))
    user = conn.execute(select(tables.user_account.c.id).where(
        tables.user_account.c.email == member)).scalar_one()
    conn.execute(insert(tables.reseller), [
        {"slug": slug, "name": slug.title(), "owner_id": user, "is_active": True,
         "partner_supported": False, "license_count": 10, "license_used": 0,
         "balance_cents": 0, "branding": {}, "created_at": now, "updated_at": now}
        for slug in ("acme", "beta", "gamma")])
    ids = dict(conn.execute(select(tables.reseller.c.slug, tables.reseller.c.id)).all())
    conn.execute(insert(tables.membership), [
        {"user_id": user, "reseller_id": ids["acme"], "role": "admin", "created_at": now},
        {"user_id": user, "reseller_id": ids["beta"], "role": "viewer", "created_at": now}])
    return ids
