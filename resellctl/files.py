"""Files written whole or not at all."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

PRIVATE = 0o600  # the files resellctl creates for its data: config, store, backups


def replace_file(path: Path, write: Callable[[IO], None], *, mode: int | None = None,
                 binary: bool = False) -> None:
    """Write `path` through a temporary file in its folder, renamed over it: a reader
    never sees half a file, and a failure leaves the old one (and no temporary file).
    Text is UTF-8 with line ends as written. The file gets `mode`, else the old file's
    mode, else the umask's default."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with (os.fdopen(fd, "wb") if binary
              else os.fdopen(fd, "w", encoding="utf-8", newline="")) as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_private(path: Path) -> bool:
    """Create `path` empty, readable and writable by its owner only (0600) whatever the
    umask; False when it exists already (its mode is left alone)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE)  # the umask may have taken bits from 0600
    finally:
        os.close(fd)
    return True


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
