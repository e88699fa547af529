"""UUIDv7 event ids: time-ordered, so ids sort like the events they name."""

from __future__ import annotations

import os
import random
import re
import threading
import time
import uuid

__all__ = ["CANONICAL_ID", "new_event_id", "normalize_event_id"]

CANONICAL_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_lock = threading.Lock()
# Seeded from the OS, and again in every forked child, so processes never share a sequence.
_random = random.Random(os.urandom(16))
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(16)))
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
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | _random.getrandbits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def normalize_event_id(event_id: str) -> str:
    """Return the canonical lowercase form of a UUID string, or raise ValueError."""
    if not isinstance(event_id, str):
        raise ValueError(f"event_id must be a UUID string, got {type(event_id).__name__}")
    if CANONICAL_ID.match(event_id):  # the common case: ids we generated; skip the parse
        return event_id
    return str(uuid.UUID(event_id))
