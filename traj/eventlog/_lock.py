"""The single-writer lock: one process may append to a store, any number may read."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from traj.errors import StoreLockedError

__all__ = ["WriterLock"]


class WriterLock:
    """An exclusive ``flock`` on ``<home>/LOCK``, released when the process dies."""

    def __init__(self, home: Path) -> None:
        self.path = home / "LOCK"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise StoreLockedError naming the holder's pid."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLockedError(
                f"store {self.path.parent} is already open for writing by process {holder}; "
                "close that process or open this one read-only"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
