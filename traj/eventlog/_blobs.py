"""Content-addressed blobs (screenshots, DOM dumps, adapter files) under ``blobs/sha256``.

A blob's name is its sha256, so every read checks the bytes against the name: a flipped bit on
disk is a :class:`CorruptBlobError`, never bytes handed on as if they were the ones recorded.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from traj.errors import BlobNotFoundError, CorruptBlobError, InvalidEventError, StoreError, one_line
from traj.eventlog._fsutil import write_durably

__all__ = ["BlobReader", "BlobStore", "blob_digest"]

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


def blob_digest(data: bytes) -> str:
    """The name ``data`` is stored under: an event may cite a blob before the blob is written."""
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """Immutable blobs named by their sha256; writing the same bytes twice stores them once."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives: ``blobs/sha256/ab/cd/<digest>``."""
        if not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest):
            raise InvalidEventError(f"{digest!r} is not a lowercase sha256 hex digest")
        return self.root / "sha256" / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        """Store ``data`` durably (temp, fsync, rename, fsync dir) and return its sha256.

        A blob already stored is left alone when its file still holds these bytes, and
        rewritten the same way when it does not (cut short, a flipped bit): putting the bytes
        again is how a damaged blob is healed. StoreError when the disk refuses (full,
        read-only, over a size limit); the temp file is removed, so a failed put leaves
        nothing behind.
        """
        digest = blob_digest(data)
        path = self.path(digest)
        if self._holds(path, digest, len(data)):
            return digest
        # pid and thread: two writers of the same bytes must not share (and rename away) one temp file
        tmp = path.with_name(f".{digest}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_durably(path, data, scratch=tmp)
        except OSError as exc:
            raise StoreError(f"could not write blob {digest} ({len(data):,} bytes): {one_line(exc)}") from None
        return digest

    def _holds(self, path: Path, digest: str, size: int) -> bool:
        """Whether the file at ``path`` is the intact blob ``digest`` of ``size`` bytes (the size first: no read)."""
        try:
            if path.stat().st_size != size:
                return False
        except OSError:  # absent, or not even its size can be read: (re)writing it is what is left
            return False
        return not self.check(digest)

    def open(self, digest: str) -> BlobReader:
        """A reader of the blob that checks its sha256 as it goes (CorruptBlobError once the last byte is read)."""
        path = self.path(digest)
        try:
            return BlobReader(digest, open(path, "rb"))  # the reader closes it
        except FileNotFoundError:
            raise BlobNotFoundError(f"blob {digest} is not in the store") from None
        except OSError as exc:  # unreadable (permissions, I/O error): the store's error, not the OS's
            raise StoreError(f"could not read blob {digest}: {one_line(exc)}") from None

    def get(self, digest: str) -> bytes:
        """Return the blob's bytes; BlobNotFoundError if absent, CorruptBlobError if they do not match the name."""
        with self.open(digest) as reader:
            return reader.read()

    def exists(self, digest: str) -> bool:
        """Whether the blob ``digest`` is present."""
        return self.path(digest).exists()

    def check(self, digest: str) -> str:
        """'' when the blob is present and its content matches its name, else the problem."""
        try:
            with self.open(digest) as reader:
                while reader.read(_CHUNK):
                    pass
        except StoreError as exc:  # absent, damaged, unreadable or not a digest at all
            return str(exc)
        return ""


class BlobReader:
    """A blob's file, read once front to back, hashed on the way: the last read raises if it was damaged.

    The check costs no second copy of the blob, so blobs of any size stream through it (into
    a tar member, an HTTP body) exactly as they stream out of a plain file.
    """

    def __init__(self, digest: str, handle: BinaryIO) -> None:
        self.digest = digest
        self.size = os.fstat(handle.fileno()).st_size
        self._handle = handle
        self._hash = hashlib.sha256()
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (the rest when negative); CorruptBlobError on the last read of a damaged blob."""
        data = self._handle.read(size)
        self._hash.update(data)
        self._read += len(data)
        if self._read >= self.size and (self._read > self.size or self._hash.hexdigest() != self.digest):
            raise CorruptBlobError(f"blob {self.digest} is damaged (content hash differs)")
        return data

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
