"""The recording's writer: appends a demo's events to its stream off Playwright's thread.

A Playwright input call of a demonstrator returns only after the recorder's binding
handler ran on the client's one thread, so the handler's store work (fsync of the WAL, a
new screenshot blob written durably) was added to every recorded input. The handler now
hands its events over here; one thread writes them in the order they were handed over,
each batch durable (fsynced) before the next is written. Only store work moves here:
everything Playwright does stays on its thread (the sync API is not thread-safe).

The thread is started by the first append and ends at :meth:`DemoWriter.close` or after
``IDLE_S`` without work, so a recorder nobody finishes leaves none behind, while a recording's inputs never wait for a
thread to start (``Thread.start`` waits until the new thread runs: ~100 ms on a loaded
machine). After a failed write nothing more is written (a later event must not stand where
the lost one was); the failure is raised by the next :meth:`DemoWriter.append` and by
:meth:`DemoWriter.drain`.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Mapping
from typing import Any

from traj.errors import BrowserError, first_line
from traj.eventlog import Store

__all__ = ["IDLE_S", "DemoWriter"]

log = logging.getLogger(__name__)

IDLE_S = 30.0
"""How long the writer's thread waits for more events before it ends (the next append starts another)."""


class DemoWriter:
    """Appends events to ``stream`` of ``store`` from a background thread, in order, each batch durably."""

    def __init__(self, store: Store, stream: str, demo_id: str) -> None:
        self.store = store
        self.stream = stream
        self.demo_id = demo_id
        self._seq = 0
        self._pending: collections.deque[tuple[Mapping[str, bytes], list[Any]]] = collections.deque()
        self._stored_blobs: set[str] = set()
        self._error: BaseException | None = None
        self._running = False
        self._busy = False
        self._closing = False
        self._idle = threading.Condition()
        """Notified when events are queued and when the queue is done."""

    def append(self, events: list[Any], blobs: Mapping[str, bytes] | None = None) -> None:
        """Queue ``events``, to be written after ``blobs`` (digest -> bytes, by blob_digest); returns at once.

        Raises BrowserError, queueing nothing, when an earlier write failed.
        """
        with self._idle:
            self._raise_error()
            self._pending.append((blobs or {}, events))
            self._closing = False
            self._idle.notify_all()
            if not self._running:
                self._running = True
                threading.Thread(target=self._write_pending, name=f"traj-record-{self.demo_id}", daemon=True).start()

    def drain(self) -> None:
        """Wait until every queued event is durable in the store; BrowserError if one could not be written."""
        with self._idle:
            self._idle.wait_for(lambda: not self._running or not (self._pending or self._busy))
            self._raise_error()

    def close(self) -> None:
        """:meth:`drain`, then let the thread end now rather than after ``IDLE_S`` (a later append starts another)."""
        with self._idle:
            self._closing = True
            self._idle.notify_all()
        self.drain()

    def _write_pending(self) -> None:
        while True:
            with self._idle:
                self._busy = False
                self._idle.notify_all()
                self._idle.wait_for(lambda: self._pending or self._closing or self._error is not None, timeout=IDLE_S)
                if not self._pending or self._error is not None:
                    self._pending.clear()  # after a failure nothing more is written (see the module's docstring)
                    self._running = False
                    self._idle.notify_all()
                    return
                blobs, events = self._pending.popleft()
                self._busy = True
            try:
                self._write(blobs, events)
            except Exception as exc:
                log.error("recording demo %s failed: %s", self.demo_id, first_line(exc))
                with self._idle:
                    self._error = exc

    def _write(self, blobs: Mapping[str, bytes], events: list[Any]) -> None:
        for digest, data in blobs.items():
            if digest not in self._stored_blobs:  # an observation cites the last screenshot until the next one
                self.store.put_blob(data)
                self._stored_blobs.add(digest)
        self._seq = self.store.append(self.stream, events, expected_seq=self._seq).next_seq

    def _raise_error(self) -> None:
        if self._error is not None:
            raise BrowserError(f"recording demo {self.demo_id} failed: {first_line(self._error)}") from self._error
