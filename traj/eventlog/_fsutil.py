"""Durable file operations: the fsync discipline every writer in the store follows."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_dir", "write_durably"]


def fsync_dir(path: Path) -> None:
    """fsync a directory so that file creations, renames and deletions in it are durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, *, scratch: Path | None = None) -> None:
    """Atomically replace ``path`` with ``data``: temp file, fsync, rename, fsync the directory.

    ``scratch`` is the temp file (default ``.<name>.tmp`` beside ``path``; writers that may race
    on one path pass their own); a failed write removes it and raises the OSError.
    """
    tmp = scratch or path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
