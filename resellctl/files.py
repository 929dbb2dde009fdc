"""Files written whole or not at all."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from resellctl.domain.errors import Invalid

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


def write_out(path: Path, write: Callable[[IO], None], *, binary: bool = False) -> Path:
    """A command's `--out PATH`, written whole or not at all (replace_file): a symlink's
    target is written (the link stays), a PATH that exists but is not a regular file (a
    folder, device, FIFO) is refused, and any failure is `cannot write PATH: reason`
    (exit 5) with nothing written. Returns the file written."""
    try:
        target = path.expanduser().resolve()
        if target.exists() and not target.is_file():
            raise (_os_error(errno.EISDIR) if target.is_dir()
                   else _os_error(None, "not a regular file"))
        folder = next((p for p in target.parents if p.exists()), None)
        if folder is not None and not folder.is_dir():  # `a_file/x`: not "File exists"
            raise _os_error(errno.ENOTDIR)
        replace_file(target, write, binary=binary)
    except OSError as exc:
        raise cannot_write(str(path), exc) from exc
    return target


def cannot_write(what: str, exc: OSError, *,
                 hint: str = "choose a file in a folder you can write to") -> Invalid:
    """The error (exit 5) of a file that cannot be written: `cannot write WHAT: reason`."""
    from resellctl.domain.errors import Invalid

    return Invalid(f"cannot write {what}: {exc.strerror or exc}", code="invalid_path",
                   hint=hint)


def _os_error(code: int | None, reason: str | None = None) -> OSError:
    return OSError(code or 0, reason or os.strerror(code or 0))


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
