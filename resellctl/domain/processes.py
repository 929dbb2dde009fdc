"""Helper processes for bulk work on two cores: a wide pipe, and stopping a child.

Used by `client import` (a reader process beside the SQLite writer). A child never
touches the parent's store connection and leaves with os._exit.
"""

from __future__ import annotations

import contextlib
import os
import signal

PIPE_BUFFER = 1 << 20


def wide_pipe() -> tuple[int, int]:
    """(read end, write end); on Linux 1 MiB instead of 64 KiB (fewer, larger hand-overs)."""
    read_end, write_end = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(read_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BUFFER)
    except (ImportError, OSError):
        pass  # not Linux, or a lower limit: the default pipe works too
    return read_end, write_end


def fork_or_none() -> int | None:
    """os.fork(), or None where there is no fork, no process to spare, or other threads
    run here (a `serve` worker: forking a threaded process can deadlock the child)."""
    import threading

    if not hasattr(os, "fork") or threading.active_count() > 1:
        return None
    try:
        return os.fork()
    except OSError:  # EAGAIN, ENOMEM
        return None


def fork_with_pipe(*, child_writes: bool) -> tuple[int, int] | None:
    """Fork with a wide pipe between the two processes: (pid, this process's end of the
    pipe), pid 0 in the child; None (and no pipe left open) when there is no fork."""
    read_end, write_end = wide_pipe()
    pid = fork_or_none()
    if pid is None:
        os.close(read_end)
        os.close(write_end)
        return None
    keep, drop = ((write_end, read_end) if (pid == 0) == child_writes
                  else (read_end, write_end))
    os.close(drop)
    return pid, keep


def reap(pid: int, *, stop: bool = True) -> int:
    """Stop the child (unless `stop` is false) and collect it; its exit code."""
    if stop:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    try:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except ChildProcessError:
        return 0
