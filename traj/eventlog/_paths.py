"""Paths recorded in events, relative to the store when they are inside it, so a copied store works.

A store is one directory, safe to copy, tar and move: an adapter trained into
``<home>/adapters/<name>/peft`` is recorded as ``adapters/<name>/peft`` and found under whatever
directory the store is opened from. Events written before paths were relative hold absolute
paths into the store's old location; when such a path is gone, the same place under the
current store is tried, so old events stay readable after a copy.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

__all__ = ["resolve_store_path", "store_relative_path"]


def store_relative_path(home: str | os.PathLike[str], path: str | os.PathLike[str]) -> str:
    """``path`` as an event records it: relative to the store (POSIX separators) when inside it, else absolute."""
    absolute = Path(path).resolve()
    try:
        return PurePosixPath(absolute.relative_to(Path(home).resolve())).as_posix()
    except ValueError:
        return str(absolute)


def resolve_store_path(home: str | os.PathLike[str], recorded: str) -> Path:
    """The path an event recorded, as it is now: relative ones under ``home``; an absolute one as it is
    while it exists, else the longest tail of it that exists under ``home`` (the store moved or was
    copied); else unchanged, for the caller to report as missing."""
    home = Path(home).absolute()
    path = Path(recorded)
    if not path.is_absolute():
        return home / path
    if path.exists():
        return path
    parts = path.parts[1:]  # without the root: the store's old location is some prefix of these
    for start in range(len(parts) - 1):  # a lone last component (``peft``) says nothing about where it was
        moved = home.joinpath(*parts[start:])
        if moved.exists():
            return moved
    return path
