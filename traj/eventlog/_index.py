"""Where each event id already lives: the index behind idempotent retries.

Ids of sealed events are kept as a sorted array of 64-bit fingerprints (8 bytes an event,
so a store of millions stays cheap in memory); a fingerprint hit is confirmed against the
segments, which only happens for real retries. Ids still in the WAL sit in a dict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np
import pyarrow as pa

__all__ = ["IdIndex", "Located", "fingerprints"]

_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
# The last 16 hex digits of a canonical UUID (after the 4th dash: variant + random bits).
_COLUMNS = np.array([19, 20, 21, 22, *range(24, 36)])
_WEIGHTS = (np.uint64(16) ** np.arange(15, -1, -1, dtype=np.uint64)).astype(np.uint64)


class Located(NamedTuple):
    """Where an event id was appended."""

    stream: str
    seq: int
    position: int


def fingerprints(ids: pa.Array | pa.ChunkedArray | Iterable[str]) -> np.ndarray:
    """64-bit fingerprints of canonical UUID strings (the random low half of the UUID)."""
    array = ids if isinstance(ids, (pa.Array, pa.ChunkedArray)) else pa.array(list(ids), pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks else pa.array([], pa.string())
    n = len(array)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    array = array.cast(pa.large_string()) if array.type != pa.string() else array
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32 if array.type == pa.string() else np.int64)
    start = int(offsets[array.offset])
    chars = np.frombuffer(array.buffers()[2], dtype=np.uint8)[start : start + 36 * n].reshape(n, 36)
    nibbles = _HEX[chars[:, _COLUMNS]].astype(np.uint64)
    return (nibbles * _WEIGHTS).sum(axis=1, dtype=np.uint64)


class IdIndex:
    """Answers "was this event id appended already, and where?"."""

    def __init__(self, confirm_sealed: Callable[[list[str]], dict[str, Located]]) -> None:
        self._sealed = np.empty(0, dtype=np.uint64)
        self._recent: dict[str, tuple[str, int, int]] = {}
        self._confirm_sealed = confirm_sealed

    def __len__(self) -> int:
        return len(self._sealed) + len(self._recent)

    def add_sealed(self, ids: pa.Array | pa.ChunkedArray) -> None:
        """Index ids that live in sealed segments."""
        self._sealed = np.sort(np.concatenate([self._sealed, fingerprints(ids)]))

    def add_recent(self, locations: Iterable[tuple[str, tuple[str, int, int]]]) -> None:
        """Index ids that live in the WAL: (event_id, (stream, seq, position)) pairs."""
        self._recent.update(locations)

    def seal(self, ids: pa.Array | pa.ChunkedArray) -> None:
        """These WAL ids were sealed: move them to the compact sealed index.

        Only the sealed files' ids move: ids in a WAL file still being written must stay
        in the dict, since a fingerprint hit is confirmed against the segments alone.
        """
        self.add_sealed(ids)
        for event_id in ids.to_pylist():
            self._recent.pop(event_id, None)

    def lookup(self, ids: list[str]) -> dict[str, Located]:
        """Return the ids among ``ids`` that are already in the log, with where they are."""
        hits = self._recent.keys() & ids
        found = {i: Located(*self._recent[i]) for i in hits}
        rest = [i for i in ids if i not in found] if found else ids
        if rest and len(self._sealed):
            prints = fingerprints(rest)
            slots = np.searchsorted(self._sealed, prints).clip(max=len(self._sealed) - 1)
            candidates = [i for i, hit in zip(rest, self._sealed[slots] == prints, strict=True) if hit]
            if candidates:
                found.update(self._confirm_sealed(candidates))
        return found
