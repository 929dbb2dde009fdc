"""SQLite under `serve --workers N`: one write request at a time, queued in the kernel.

SQLite lets one transaction write at a time. A writer that finds the store locked is
retried by SQLite's busy handler, which sleeps between tries (1, 2, 5, 10, 15, 20, 25,
25, 25, 50, 50, 100 ms...), so concurrent POSTs spent most of their time asleep while
the store was free: tail latencies near a second and a fraction of the throughput.
Here the workers' write requests queue on an exclusive `flock` of the store's folder (a
thread lock inside a worker, since a flock belongs to an open file, not a thread), and
are woken as soon as the previous one is done. Reads never queue (WAL); other processes
(the CLI, cron) still meet SQLite's own lock and busy handler, as before.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from resellctl.store.engine import Store, sqlite_path


class WriteQueue:
    def __init__(self, store_file: Path) -> None:
        self.folder = store_file.parent
        self.lock = threading.Lock()
        self.fd: int | None = None

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self.lock:
            fd, locked = self._open(), False
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    locked = True
                except OSError:  # no flock here: the thread lock and SQLite's own still hold
                    pass
            try:
                yield
            finally:
                if locked:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def _open(self) -> int | None:
        if self.fd is None:
            try:
                self.fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                return None
        return self.fd


_QUEUES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def queue_of(store: Store) -> WriteQueue | None:
    """The write queue of a SQLite store (one per store and process); None on PostgreSQL,
    whose writers wait for row locks, never asleep."""
    path = sqlite_path(store.url)
    if path is None:
        return None
    if store not in _QUEUES:
        _QUEUES[store] = WriteQueue(path)
    return _QUEUES[store]
