"""Alembic, driven from code: the scripts ship inside the package."""

from __future__ import annotations

from pathlib import Path

from resellctl.domain.errors import StoreUnavailable
from resellctl.store.engine import HEAD_REVISION, Store, current_revision, translate_errors

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection=None):  # noqa: ANN001, ANN201
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def script_head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(store: Store, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade the store to `revision`; returns (before, after)."""
    from alembic import command

    with translate_errors(store.url), store.engine.begin() as conn:
        before = current_revision(conn)
        if before is not None and not _known(before):
            raise StoreUnavailable(
                f"the store's schema is at revision {before}, which this resellctl does not "
                f"know (its head is {HEAD_REVISION})",
                hint="the store was migrated by a newer resellctl: upgrade resellctl")
        command.upgrade(alembic_config(conn), revision)
        after = current_revision(conn)
    return before, after


def _known(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return any(s.revision == revision for s in script.walk_revisions())


def status(store: Store) -> dict:
    from resellctl.store.engine import sqlite_path

    path = sqlite_path(store.url)
    if path is not None and not path.exists():  # report, do not create an empty file
        return {"current": None, "head": HEAD_REVISION, "up_to_date": False}
    with translate_errors(store.url), store.engine.connect() as conn:
        current = current_revision(conn)
    return {"current": current, "head": HEAD_REVISION, "up_to_date": current == HEAD_REVISION}
