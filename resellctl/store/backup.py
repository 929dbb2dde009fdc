"""Online backup of a SQLite store (consistent even while others write)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from resellctl.domain.errors import Invalid, StoreUnavailable
from resellctl.files import cannot_write, create_private
from resellctl.store.engine import Store, sqlite_path


def backup(store: Store, target: Path) -> dict:
    source = sqlite_path(store.url)
    if store.dialect != "sqlite" or source is None:
        raise Invalid("db backup works on SQLite stores only", code="backup_unsupported",
                      hint="on PostgreSQL use pg_dump")
    if not source.exists():
        raise StoreUnavailable(f"no store at {source}",
                               hint="run `resellctl init --admin-email EMAIL`")
    target = target.expanduser().resolve()
    if target == source.resolve():
        raise Invalid("the backup file must not be the store itself", code="invalid_path")
    partial = target.with_name(f".{target.name}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)  # left by a run that was killed
        create_private(partial)  # a copy of the store is as private as the store
    except OSError as exc:
        raise cannot_write(f"the backup at {target}", exc,
                           hint="choose a folder you can write to") from exc
    src = sqlite3.connect(source)
    dest = sqlite3.connect(partial)
    try:
        src.backup(dest)
    except BaseException:
        dest.close()
        partial.unlink(missing_ok=True)
        raise
    finally:
        dest.close()
        src.close()
    os.replace(partial, target)
    return {"source": str(source), "backup": str(target), "bytes": target.stat().st_size}
