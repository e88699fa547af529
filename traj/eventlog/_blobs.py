"""Content-addressed blobs (screenshots, DOM dumps, adapter files) under ``blobs/sha256``."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from traj.errors import BlobNotFoundError, InvalidEventError
from traj.eventlog._fsutil import fsync_dir

__all__ = ["BlobStore"]

_SHA256_RE = re.compile(r"[0-9a-f]{64}")


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
        """Store ``data`` durably (temp, fsync, rename, fsync dir) and return its sha256."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{digest}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        fsync_dir(path.parent)
        return digest

    def get(self, digest: str) -> bytes:
        """Return the blob's bytes; BlobNotFoundError if absent."""
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(f"blob {digest} is not in the store") from None

    def exists(self, digest: str) -> bool:
        """Whether the blob ``digest`` is present."""
        return self.path(digest).exists()

    def check(self, digest: str) -> str:
        """'' when the blob is present and its content matches its name, else the problem."""
        try:
            data = self.get(digest)
        except BlobNotFoundError as exc:
            return str(exc)
        if hashlib.sha256(data).hexdigest() != digest:
            return f"blob {digest} is damaged (content hash differs)"
        return ""
