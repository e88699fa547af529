"""Appending at the end of a stream whose events depend on what the stream already holds.

``store.append(stream, events, expected_seq=store.stream_seq(stream))`` is a race: another
writer can append between the read and the append. The store then refuses the second append
with a ConflictError (never a duplicate), and the caller must decide again on what is there
now. Callers whose events do not depend on the stream pass ``expected_seq=None`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from traj.errors import ConflictError
from traj.eventlog._envelope import NewEvent
from traj.eventlog._payloads import Payload
from traj.eventlog._store import AppendResult, Store

__all__ = ["append_at_end"]

DEFAULT_ATTEMPTS = 50
"""Each conflict means another writer got in; this many in a row means something keeps appending."""


def append_at_end(
    store: Store,
    stream: str,
    build: Callable[[], Sequence[NewEvent | Payload]],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
) -> AppendResult:
    """Append the events ``build()`` makes at the end of ``stream``, building them again after a conflict.

    ``build`` reads what it depends on (the stream, a projection) each time it is called: its
    result is appended only if the stream did not grow since ``build`` began. After
    ``attempts`` conflicts in a row the last ConflictError is raised; an error ``build``
    raises (a check that no longer holds) goes to the caller at once.
    """
    attempt = 1
    while True:
        expected_seq = store.stream_seq(stream)
        events = build()
        try:
            return store.append(stream, events, expected_seq=expected_seq)
        except ConflictError:
            if attempt >= attempts:
                raise
            attempt += 1
