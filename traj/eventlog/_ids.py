"""UUIDv7 event ids: time-ordered, so ids sort like the events they name."""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["new_event_id", "normalize_event_id"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_event_id() -> str:
    """Return a fresh UUIDv7 string, strictly increasing within this process.

    The 12-bit ``rand_a`` field holds a counter within the same millisecond (RFC 9562,
    method 1), so ids generated in a tight loop still sort in creation order.
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        counter = _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def normalize_event_id(event_id: str) -> str:
    """Return the canonical lowercase form of a UUID string, or raise ValueError."""
    if not isinstance(event_id, str):
        raise ValueError(f"event_id must be a UUID string, got {type(event_id).__name__}")
    return str(uuid.UUID(event_id))
