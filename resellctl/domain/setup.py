"""`init`: create or upgrade the store, the first super admin and the default catalog."""

from __future__ import annotations

from resellctl.domain import audit, catalog, users
from resellctl.domain.access import USER, normalise_email
from resellctl.domain.errors import Denied
from resellctl.store import migrate
from resellctl.store.engine import Store, redact


def init(store: Store, admin_email: str, admin_name: str | None = None) -> dict:
    """Idempotent: running it again changes nothing that is already there."""
    before, after = migrate.upgrade(store)
    email = normalise_email(admin_email)
    created_admin = loaded_catalog = False
    with store.write() as conn:
        if users.count_users(conn) == 0:
            users.insert_user(conn, email, admin_name, True)
            audit.record(conn, email, "user.create", "user", email,
                         after={"email": email, "is_super_admin": True})
            created_admin = True
        elif not conn.execute(USER.select().where(USER.c.email == email)).first():
            raise Denied(f"the store already has users and `{email}` is not one of them",
                         code="unknown_actor",
                         hint="ask a super admin to run `resellctl user create`")
        if catalog.is_empty(conn):
            summary = catalog.store_catalog(conn, catalog.parse(catalog.default_text()))
            audit.record(conn, email, "catalog.load", "catalog", "catalog",
                         extra={"source": "default", **summary})
            loaded_catalog = True
    return {"database_url": redact(store.url), "revision_before": before, "revision": after,
            "admin_email": email, "created_admin": created_admin,
            "loaded_default_catalog": loaded_catalog}
