"""The event store: one directory holding the WAL, sealed Parquet segments and blobs.

Appends go through group commit: concurrent callers queue their append, one of them
becomes the leader, writes every queued append as its own checksummed record batch,
fsyncs once, and wakes the others. An append returns only after its batch is durable.

When the WAL file reaches ``seal_bytes`` the leader closes it and starts a new one; a
background thread seals the closed files into a Parquet segment, off the append path.
It takes the leader role only to publish (manifest, WAL files dropped, id index), so a
commit never sees half a seal, and a crash at any point of it is repaired on open.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from traj.errors import (
    ConflictError,
    CorruptSegmentError,
    IdempotencyError,
    InvalidEventError,
    StoreError,
    one_line,
)
from traj.eventlog._blobs import BlobStore
from traj.eventlog._envelope import (
    EVENT_SCHEMA,
    EncodedEvents,
    Event,
    NewEvent,
    encode_events,
    events_from_table,
    validate_stream_name,
)
from traj.eventlog._fsutil import fsync_dir
from traj.eventlog._index import IdIndex, Located
from traj.eventlog._layout import SEAL_TEMP, LogMovedError, Unlisted, read_layout
from traj.eventlog._lock import WriterLock
from traj.eventlog._payloads import Payload
from traj.eventlog._segments import (
    Manifest,
    Segment,
    check_segment,
    read_manifest,
    read_segment,
    write_manifest,
    write_segment,
)
from traj.eventlog._wal import WalWriter, read_wal, recover_wal, wal_name

__all__ = ["AppendResult", "Snapshot", "Store", "default_home"]

DEFAULT_SEAL_BYTES = 64 * 1024 * 1024
DEFAULT_MERGE_ROWS = 1_000_000
_READ_ATTEMPTS = 10
"""Snapshots a read tries while a writer keeps merging segments away under it, before giving up."""

T = TypeVar("T")


def default_home() -> Path:
    """The store directory: ``$TRAJ_HOME`` if set, else ``./.traj``."""
    return Path(os.environ.get("TRAJ_HOME") or ".traj")


@dataclass(frozen=True)
class AppendResult:
    """What an acknowledged append wrote (or, for a retry, had already written)."""

    stream: str
    first_seq: int
    next_seq: int
    """The expected seq for the stream's next append."""
    first_position: int
    last_position: int
    duplicate: bool = False
    """True when the call was an exact retry and nothing new was written."""


@dataclass(frozen=True)
class Snapshot:
    """A consistent view of the log: sealed segments plus the WAL tail, positions 0..end-1."""

    segments_dir: Path
    segments: tuple[Segment, ...]
    tail: pa.Table
    end: int
    """One past the last position in this snapshot (the number of events)."""
    damaged: dict[str, str] = field(default_factory=dict)
    """Segments left out because they are damaged: file name -> problem."""

    @property
    def segment_paths(self) -> list[str]:
        """Paths of the healthy segments, in position order."""
        return [str(self.segments_dir / s.file) for s in self.segments if s.file not in self.damaged]


@dataclass
class _WalFile:
    """One WAL file and the part of it this process has decoded so far."""

    path: Path
    first_position: int
    batches: list[pa.RecordBatch]
    read_bytes: int = 0
    """Offset up to which ``batches`` hold the file."""
    end_bytes: int | None = None
    """Acknowledged length when this process writes the file; None: read to the end."""
    sealable: bool = False
    """Closed for writing (rotated, or recovered on open): its content is final."""

    @property
    def rows(self) -> int:
        return sum(b.num_rows for b in self.batches)

    def catch_up(self) -> None:
        """Decode what was appended since the last call (never past ``end_bytes``)."""
        if self.end_bytes is not None and self.read_bytes >= self.end_bytes:
            return
        scan = read_wal(self.path, start=self.read_bytes, end=self.end_bytes)
        self.batches.extend(scan.batches)
        self.read_bytes = scan.good_bytes


@dataclass(frozen=True)
class _LogState:
    """What the leader decides appends by: the next seq of every stream and where each event id is."""

    streams: dict[str, int]
    index: IdIndex


@dataclass
class _Part:
    """One stream's events in an append: decided as a whole, written in its request's batch."""

    stream: str
    events: EncodedEvents
    expected_seq: int | None
    first_seq: int = 0
    first_position: int = 0
    result: AppendResult | None = None


@dataclass
class _Request:
    """One ``append`` or ``append_many`` call: all its parts are accepted, or none."""

    parts: list[_Part]
    done: bool = False
    error: BaseException | None = None


class Store:
    """An append-only event log in one directory; see the package docstring for the layout.

    Open it with ``Store.open(home)`` for writing (one process at a time) or
    ``Store.open(home, readonly=True)`` for reading alongside a writer.
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        readonly: bool = False,
        create: bool = True,
        seal_bytes: int = DEFAULT_SEAL_BYTES,
    ) -> None:
        self.home = Path(home) if home is not None else default_home()
        self.readonly = readonly
        self.seal_bytes = seal_bytes
        self.blobs = BlobStore(self.home / "blobs")
        self.recovery: list[str] = []
        """What opening had to repair: torn WAL tails dropped, debris of interrupted seals removed."""
        self._segments_dir = self.home / "segments"
        self._wal_dir = self.home / "wal"
        self._lock = WriterLock(self.home)
        self._cond = threading.Condition()
        self._state = threading.RLock()
        """Guards the manifest, the WAL list and each WAL file's decoded batches, so a snapshot
        never sees a seal half done and two threads never decode the same bytes twice."""
        self._queue: list[_Request] = []
        self._leader_busy = False
        self._exclusive_waiting = 0
        """Callers waiting in _exclusive: appenders let them take the leader role first."""
        self._seal_lock = threading.Lock()
        """Held by whoever seals (the background sealer, seal, compact): one seal at a time."""
        self._sealer: threading.Thread | None = None
        self._seal_wanted = False
        self._seal_error: BaseException | None = None
        self._failed: BaseException | None = None
        self._writer: WalWriter | None = None
        self._log_state: _LogState | None = None
        """Built once, by the leader, on first use; never replaced (see _built_log_state)."""
        self._closed = False
        self._checked: dict[Segment, str] = {}
        """Open-time check of each segment seen so far: '' when healthy, else the problem."""
        if (readonly or not create) and not (self.home / "wal").is_dir():
            raise StoreError(f"no traj store at {self.home} (create one by appending, or set TRAJ_HOME)")
        if readonly:
            self._load(recover=False)
        else:
            for directory in (self.home, self._segments_dir, self._wal_dir, self.home / "blobs"):
                try:
                    directory.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(f"cannot use {directory} as a store directory: {one_line(exc)}") from None
            self._lock.acquire()
            try:
                self._load(recover=True)
            except BaseException:
                self._lock.release()
                raise

    @classmethod
    def open(
        cls,
        home: str | os.PathLike[str] | None = None,
        *,
        readonly: bool = False,
        create: bool = True,
        seal_bytes: int = DEFAULT_SEAL_BYTES,
    ) -> Store:
        """Open the store at ``home``, creating it unless ``readonly`` or ``create=False``."""
        return cls(home, readonly=readonly, create=create, seal_bytes=seal_bytes)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the current WAL file cleanly and release the writer lock.

        Seals already requested finish first; an append another thread is committing finishes
        too, and later appends are refused, so nothing touches the files once the lock is gone.
        """
        if self._closed:
            return
        self._join_sealer()
        with self._exclusive():
            if self._closed:  # another thread closed it meanwhile
                return
            self._closed = True
        self._join_sealer()  # a commit between the first join and _closed may have requested one more
        if self._writer is not None and self._failed is None:
            self._writer.close()
        self._writer = None
        self._lock.release()

    # ------------------------------------------------------------------ opening & recovery

    def _load(self, *, recover: bool) -> None:
        """Read the manifest and WAL files; when ``recover``, also repair what a crash left."""
        attempts = 1 if recover else _READ_ATTEMPTS  # the writer holds the lock: nothing moves under it
        for attempt in range(attempts):
            try:
                with self._state:
                    self._load_once(recover=recover)
                return
            except FileNotFoundError as exc:  # a concurrent writer sealed or merged while we listed
                if attempt == attempts - 1:
                    if recover:
                        raise StoreError(f"a file of {self.home} vanished while it was opened: {exc}") from None
                    raise StoreError(f"{self.home} kept changing while it was read; try again") from None
                time.sleep(0.01)

    def _load_once(self, *, recover: bool) -> None:
        layout = read_layout(self.home)
        if layout.unlisted.foreign:
            raise layout.unlisted.refusal(self.home)
        manifest = layout.manifest
        if recover:
            self._remove_debris(layout.unlisted)
        damaged: dict[str, str] = {}
        for segment in manifest.segments:
            # Segments are immutable: hash each once per Store, not again on every refresh
            # of a reader after a seal (that would re-read the whole log each time).
            if segment not in self._checked:
                problem = check_segment(self._segments_dir, segment)
                if problem and self._merged_away(segment, manifest):
                    raise LogMovedError(f"segment {segment.file} was merged away while {self.home} was read")
                self._checked[segment] = problem
            if self._checked[segment]:
                damaged[segment.file] = self._checked[segment]
        wal: list[_WalFile] = []
        next_position = manifest.next_position
        for first, path in layout.wal:
            scan = recover_wal(path) if recover else read_wal(path)
            if recover and scan.problem and scan.torn_bytes:
                self.recovery.append(f"{path.name}: dropped {scan.torn_bytes} unacknowledged bytes ({scan.problem})")
            rows = sum(b.num_rows for b in scan.batches)
            if rows and first < manifest.next_position:
                if first + rows > manifest.next_position:
                    raise StoreError(f"WAL file {path.name} overlaps the sealed segments; the manifest is inconsistent")
                if recover:  # sealed already; the crash came before the WAL file was dropped
                    path.unlink()
                    self.recovery.append(f"{path.name}: removed, already sealed")
                continue
            if rows == 0:
                if recover and path.exists():
                    path.unlink()
                continue
            if first != next_position:
                raise StoreError(
                    f"WAL file {path.name} starts at position {first} but the log ends at "
                    f"{next_position - 1}: events are missing from {self.home}"
                )
            end_bytes = scan.good_bytes if recover else None  # a recovered file is final
            wal.append(_WalFile(path, first, scan.batches, scan.good_bytes, end_bytes, sealable=recover))
            next_position += rows
        if recover:
            fsync_dir(self._wal_dir)
        # Published together, and only once all of it was read: a failed reload leaves the last good view.
        self._manifest, self._damaged, self._wal, self._next_position = manifest, damaged, wal, next_position

    def _merged_away(self, segment: Segment, manifest: Manifest) -> bool:
        """Whether a segment of ``manifest`` is gone because a live writer merged it away since it was read.

        A reader's open or refresh checks each new segment after reading the manifest; a
        compaction may list its merged segment and delete this one in between. Gone under a
        manifest that has not changed, it is damage.
        """
        if not self.readonly or (self._segments_dir / segment.file).exists():
            return False
        return read_manifest(self.home) != manifest

    def _remove_debris(self, unlisted: Unlisted) -> None:
        """Remove what an interrupted seal or merge left: only files whose events are safe elsewhere."""
        for name, why in unlisted.debris.items():
            (self._segments_dir / name).unlink()
            if not SEAL_TEMP.fullmatch(name):
                self.recovery.append(f"segments/{name}: removed, not in the manifest ({why})")
        for tmp in (*self.home.glob(".*.tmp"), *self.home.glob("blobs/sha256/*/*/.*.tmp")):
            tmp.unlink()  # only the lock holder writes, so any temp file is a dead writer's
        fsync_dir(self._segments_dir)

    def refresh(self) -> None:
        """Read-only stores: pick up what the writer process appended or sealed since.

        Safe to call from several threads: one at a time decodes, so no bytes are read twice.
        """
        if not self.readonly:
            return
        with self._state:
            known = {w.path: w for w in self._wal}
            manifest = read_manifest(self.home)
            if manifest == self._manifest and all(p in known for p in sorted(self._wal_dir.glob("*.arrow"))):
                for wal in self._wal:  # only the tail grew: read just the new bytes
                    try:
                        wal.catch_up()
                    except FileNotFoundError:
                        break
                else:
                    self._next_position = self._manifest.next_position + sum(w.rows for w in self._wal)
                    return
            self._load(recover=False)

    # ------------------------------------------------------------------ appending

    def append(
        self,
        stream: str,
        events: Sequence[NewEvent | Payload],
        expected_seq: int | None,
    ) -> AppendResult:
        """Append ``events`` to ``stream`` atomically and durably.

        ``expected_seq`` is the seq the first event will get, i.e. the number of events the
        caller believes the stream holds (0 for a new stream); a stale value raises
        ConflictError. ``None`` appends at the end without the check. Re-sending the same
        event ids at the same place is acknowledged again without writing (a retry); re-using
        some ids or putting them elsewhere raises IdempotencyError.
        """
        return self.append_many([(stream, events, expected_seq)])[0]

    def append_many(
        self, appends: Sequence[tuple[str, Sequence[NewEvent | Payload], int | None]]
    ) -> list[AppendResult]:
        """Append to several streams at once, each ``(stream, events, expected_seq)`` as ``append`` would: all or none.

        The parts are decided in order in one commit (a stream named twice continues where its
        earlier part ends): one stale ``expected_seq`` or misused event id refuses the whole call
        with its error and nothing written. They go to the WAL as one record batch under one
        fsync, so a crash keeps all of them or none. A part that is an exact retry is
        acknowledged again without writing (``duplicate=True``), as ``append`` does, while the
        other parts are written. Returns one result per part, in order.
        """
        if self.readonly:
            raise StoreError(f"store {self.home} is open read-only")
        if self._closed:
            raise StoreError(f"store {self.home} is closed")
        if not appends:
            raise InvalidEventError("append_many needs at least one (stream, events, expected_seq)")
        parts = [_part(stream, events, expected_seq) for stream, events, expected_seq in appends]
        ids = [event_id for part in parts for event_id in part.events.event_ids]
        if len(set(ids)) != len(ids):
            streams = ", ".join(dict.fromkeys(repr(part.stream) for part in parts))
            raise IdempotencyError(f"an append to {streams} repeats an event_id within itself")
        request = _Request(parts)
        with self._cond:
            self._queue.append(request)
            while not request.done and (self._leader_busy or self._exclusive_waiting):
                self._cond.wait()
            if not request.done:
                self._leader_busy = True
                group, self._queue = self._queue, []
        if not request.done:
            try:
                self._commit(group)
            finally:
                with self._cond:
                    self._leader_busy = False
                    self._cond.notify_all()
        if request.error is not None:
            raise request.error
        results = [part.result for part in parts if part.result is not None]
        assert len(results) == len(parts)
        return results

    def _commit(self, group: list[_Request]) -> None:
        """Leader: decide each request in order, write the accepted ones, fsync once."""
        try:
            if self._closed:
                raise StoreError(f"store {self.home} is closed")
            if self._failed is not None:
                raise StoreError(f"store {self.home} failed earlier ({self._failed}); reopen it to recover")
            if self._damaged:
                problem = next(iter(self._damaged.values()))
                raise CorruptSegmentError(
                    f"refusing to append while the store is damaged ({problem}); run 'traj verify'"
                )
            state = self._built_log_state()
        except BaseException as exc:
            for request in group:
                request.error, request.done = exc, True
            return
        pending = _Pending({}, {})
        accepted: list[tuple[_Request, list[_Part], pa.RecordBatch]] = []
        position = self._next_position
        now = dt.datetime.now(dt.UTC)
        for request in group:
            try:
                new = self._decide_request(request, state, pending, position)
            except StoreError as exc:
                request.error, request.done = exc, True
                continue
            if not new:  # exact retries only, already answered
                request.done = True
                continue
            accepted.append((request, new, _to_batch(new, now)))
            position += sum(len(part.events) for part in new)
        if not accepted:
            return
        try:
            writer = self._wal_writer()
            for _, _, batch in accepted:
                writer.write(batch)
            writer.sync()
        except BaseException as exc:
            # The WAL may now hold bytes we cannot vouch for; only a reopen (recovery) can say.
            self._failed = exc
            error = StoreError(f"append to {self.home} failed while writing the WAL: {exc}")
            for request, _, _ in accepted:
                request.error, request.done = error, True
            return
        # Batches are not kept: holding every appended batch costs a page fault per 4 KiB of
        # fresh memory, which measured slower than the append itself. Readers decode the file.
        with self._state:
            self._wal[-1].end_bytes = writer.size
            self._next_position = position
        for request, new, _ in accepted:
            for part in new:
                n = len(part.events)
                state.index.add_recent(_locations(part))
                state.streams[part.stream] = part.first_seq + n
                part.result = AppendResult(
                    part.stream, part.first_seq, part.first_seq + n, part.first_position, part.first_position + n - 1
                )
            request.done = True
        if writer.size >= self.seal_bytes:
            self._rotate()
            self._request_seal()

    def _decide_request(self, request: _Request, state: _LogState, pending: _Pending, position: int) -> list[_Part]:
        """Decide every part of ``request`` after the group's earlier ones; returns the parts to write.

        The written parts are added to ``pending``, placed from ``position`` on. A refused part
        refuses the whole request (StoreError) and takes its earlier parts back out of
        ``pending``. (Undoing on the rare refusal keeps the usual path on plain dicts: a layered
        view of them cost a Python call per event id looked up.)
        """
        before: dict[str, int | None] = {}
        new: list[_Part] = []
        try:
            for part in request.parts:
                first_seq = self._decide(part, state=state, pending=pending)
                if first_seq is None:
                    continue
                part.first_seq, part.first_position = first_seq, position
                before.setdefault(part.stream, pending.streams.get(part.stream))
                pending.ids.update(_locations(part))
                pending.streams[part.stream] = first_seq + len(part.events)
                position += len(part.events)
                new.append(part)
        except StoreError:
            for part in new:
                for event_id in part.events.event_ids:
                    del pending.ids[event_id]
            for stream, seq in before.items():
                if seq is None:
                    del pending.streams[stream]
                else:
                    pending.streams[stream] = seq
            raise
        return new

    def _decide(self, part: _Part, *, state: _LogState, pending: _Pending) -> int | None:
        """Check one part against the log: the seq its first event gets, or None for a retry.

        A retry gets its result (the original positions) set here.
        """
        ids = part.events.event_ids
        known = {i: Located(*pending.ids[i]) for i in pending.ids.keys() & ids}
        known.update(state.index.lookup([i for i in ids if i not in known] if known else ids))
        next_seq = pending.streams.get(part.stream, state.streams.get(part.stream, 0))
        if not known:
            if part.expected_seq is not None and part.expected_seq != next_seq:
                raise ConflictError(part.stream, part.expected_seq, next_seq)
            return next_seq
        if len(known) < len(ids):
            first = next(i for i in ids if i in known)
            raise IdempotencyError(
                f"partial retry on {part.stream!r}: {len(known)} of {len(ids)} event ids were "
                f"already appended (e.g. {first} at {known[first].stream}#{known[first].seq})"
            )
        where = [known[i] for i in ids]
        start = where[0].seq if part.expected_seq is None else part.expected_seq
        if any(w.stream != part.stream or w.seq != start + k for k, w in enumerate(where)):
            raise IdempotencyError(
                f"event ids re-sent to {part.stream!r} at seq {part.expected_seq} were "
                f"appended elsewhere (first at {where[0].stream}#{where[0].seq})"
            )
        part.result = AppendResult(
            part.stream, where[0].seq, next_seq, where[0].position, where[-1].position, duplicate=True
        )
        return None

    def _wal_writer(self) -> WalWriter:
        if self._writer is None:
            path = self._wal_dir / wal_name(self._next_position)
            self._writer = WalWriter(path)
            with self._state:
                self._wal.append(_WalFile(path, self._next_position, [], 0, self._writer.size))
        return self._writer

    def _built_log_state(self) -> _LogState:
        """The next seq per stream and the id index, built from the log on first use.

        Only the leader calls this, so no commit, seal or merge moves the log while it is
        read, and the state is published whole, once: a commit never decides on a half-built
        or stale copy (a second builder racing the leader once replaced the leader's updated
        state with an older one, and seqs and retried ids were written twice).
        """
        if self._log_state is None:
            streams: dict[str, int] = {}
            index = IdIndex(self._locate_sealed)
            for segment in self._manifest.segments:
                table = read_segment(self._segments_dir, segment, columns=["event_id", "stream", "seq"])
                index.add_sealed(table.column("event_id"))
                _merge_stream_ends(streams, table)
            with self._state:  # a snapshot in another thread may be decoding the same WAL file
                for wal in self._wal:
                    wal.catch_up()
                batches = [b for w in self._wal for b in w.batches]
            for batch in batches:
                table = pa.Table.from_batches([batch])
                _merge_stream_ends(streams, table)
                columns = [table[name].to_pylist() for name in ("event_id", "stream", "seq", "position")]
                index.add_recent(zip(columns[0], zip(*columns[1:], strict=True), strict=True))
            self._log_state = _LogState(streams, index)
        return self._log_state

    def _locate_sealed(self, ids: list[str]) -> dict[str, Located]:
        found: dict[str, Located] = {}
        for segment in self._manifest.segments:
            table = read_segment(
                self._segments_dir,
                segment,
                columns=["event_id", "stream", "seq", "position"],
                filters=[("event_id", "in", ids)],
            )
            for row in table.to_pylist():
                found[row["event_id"]] = Located(row["stream"], row["seq"], row["position"])
        return found

    # ------------------------------------------------------------------ sealing

    def seal(self) -> Segment | None:
        """Seal every WAL file into one Parquet segment; returns it (None if nothing to seal).

        Waits for a background seal in progress, then seals the rest, the open file included.
        """
        if self.readonly:
            raise StoreError(f"store {self.home} is open read-only")
        with self._seal_lock, self._exclusive():
            return self._seal()

    def wait_for_seals(self) -> None:
        """Block until the background seals requested so far are published.

        Raises StoreError if the last background seal failed (its WAL files are intact and
        the next seal retries them).
        """
        self._join_sealer()
        error, self._seal_error = self._seal_error, None
        if error is not None:
            raise StoreError(f"sealing {self.home} in the background failed: {error}") from error

    def _join_sealer(self) -> None:
        with self._cond:
            while self._sealer is not None:
                self._cond.wait()

    def _rotate(self) -> None:
        """Leader: close the WAL file being written; the next append starts a new one."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            with self._state:
                self._wal[-1].sealable = True

    def _request_seal(self) -> None:
        """Leader: have the background thread seal the closed WAL files."""
        with self._cond:
            self._seal_wanted = True
            if self._sealer is None:
                self._sealer = threading.Thread(target=self._seal_in_background, name="traj-seal", daemon=True)
                self._sealer.start()

    def _seal_in_background(self) -> None:
        while True:
            with self._cond:
                if not self._seal_wanted or self._closed:
                    self._sealer = None
                    self._cond.notify_all()
                    return
                self._seal_wanted = False
            try:
                with self._seal_lock:
                    with self._state:
                        files = [w for w in self._wal if w.sealable]
                    if files:
                        table = self._sealable_table(files)
                        segment = write_segment(self._segments_dir, table)
                        with self._exclusive():
                            self._publish(files, segment, table.column("event_id"))
                self._seal_error = None
            except BaseException as exc:  # the WAL files stay; the next seal retries them
                self._seal_error = exc

    def _seal(self) -> Segment | None:
        """Seal every WAL file now; the caller holds the seal lock and the leader role."""
        self._rotate()
        with self._state:
            files = list(self._wal)
        if not files:
            return None
        table = self._sealable_table(files)
        if table.num_rows == 0:
            return None
        segment = write_segment(self._segments_dir, table)
        self._publish(files, segment, table.column("event_id"))
        return segment

    def _sealable_table(self, files: list[_WalFile]) -> pa.Table:
        """The events of closed WAL files, read back and checked against what was acknowledged."""
        batches: list[pa.RecordBatch] = []
        for w in files:
            scan = read_wal(w.path, end=w.end_bytes)
            if w.end_bytes is not None and scan.good_bytes != w.end_bytes:
                raise StoreError(
                    f"WAL file {w.path.name} holds {scan.good_bytes} verified bytes of the "
                    f"{w.end_bytes} acknowledged ({scan.problem}); not sealing it"
                )
            batches.extend(scan.batches)
        return pa.Table.from_batches(batches, schema=EVENT_SCHEMA)

    def _publish(self, files: list[_WalFile], segment: Segment, ids: pa.ChunkedArray) -> None:
        """Leader: list the segment, then drop the WAL files it replaces and move their ids."""
        if segment.first_position != self._manifest.next_position:
            raise StoreError(f"segment {segment.file} does not continue the log at {self._manifest.next_position}")
        with self._state:  # readers see the WAL files or their segment, never both
            self._manifest = Manifest((*self._manifest.segments, segment))
            write_manifest(self.home, self._manifest)
            for w in files:
                w.path.unlink(missing_ok=True)
            fsync_dir(self._wal_dir)
            self._wal = [w for w in self._wal if all(w is not f for f in files)]
        if self._log_state is not None:
            self._log_state.index.seal(ids)

    def compact(self, merge_rows: int = DEFAULT_MERGE_ROWS) -> list[Segment]:
        """Seal the WAL, then merge runs of adjacent small segments up to ``merge_rows`` rows.

        Merging rewrites files, never events: the merged segment holds the same rows. The
        manifest switches to it atomically before the old files go, so a crash at any point
        leaves either the old segments or the new one listed, never both.
        """
        if self.readonly:
            raise StoreError(f"store {self.home} is open read-only")
        with self._seal_lock, self._exclusive():
            if self._damaged:
                raise CorruptSegmentError(
                    f"refusing to merge segments while the store is damaged ({next(iter(self._damaged.values()))})"
                )
            self._seal()
            merged: list[Segment] = []
            for run in _merge_runs(self._manifest.segments, merge_rows):
                table = pa.concat_tables(read_segment(self._segments_dir, s) for s in run)
                segment = write_segment(self._segments_dir, table)
                kept = [s for s in self._manifest.segments if s not in run]
                with self._state:
                    self._manifest = Manifest(tuple(sorted([*kept, segment], key=lambda s: s.first_position)))
                    write_manifest(self.home, self._manifest)
                    for old in run:
                        (self._segments_dir / old.file).unlink(missing_ok=True)
                    fsync_dir(self._segments_dir)
                merged.append(segment)
            return merged

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the leader role: no append commits while the WAL or segments move."""
        with self._cond:
            self._exclusive_waiting += 1
            while self._leader_busy:
                self._cond.wait()
            self._exclusive_waiting -= 1
            self._leader_busy = True
        try:
            yield
        finally:
            with self._cond:
                self._leader_busy = False
                self._cond.notify_all()

    # ------------------------------------------------------------------ reading

    @property
    def next_position(self) -> int:
        """The global position the next appended event will get (= number of events)."""
        return self._next_position

    @property
    def manifest(self) -> Manifest:
        """The sealed segments."""
        return self._manifest

    @property
    def damaged(self) -> dict[str, str]:
        """Segments that failed the open-time check: file name -> problem."""
        return dict(self._damaged)

    def stream_seq(self, stream: str) -> int:
        """The next seq of ``stream`` (0 if it does not exist): the value to pass as expected_seq."""
        if self.readonly:
            self.refresh()
            table = self.read(stream=stream, columns=["seq"])
            return len(table)
        state = self._log_state
        if state is None:
            with self._exclusive():  # built as the leader: see _built_log_state
                state = self._built_log_state()
        return state.streams.get(stream, 0)

    def snapshot(self) -> Snapshot:
        """A consistent view of everything acknowledged so far (segments + WAL tail)."""
        with self._state:
            self.refresh()  # a reader's refresh has read every WAL file to its end
            if not self.readonly:  # (a reader's catch-up here could find a file the writer just sealed away)
                for w in self._wal:
                    w.catch_up()
            batches = [b for w in self._wal for b in w.batches]
            tail = pa.Table.from_batches(batches, schema=EVENT_SCHEMA)
            return Snapshot(self._segments_dir, self._manifest.segments, tail, self._next_position, dict(self._damaged))

    def reading(self, work: Callable[[Snapshot], T]) -> T:
        """Run ``work`` on the latest snapshot, and again on a newer one if a segment it reads was merged away.

        A compaction (in this process, or the writer's while this Store is read-only) lists its
        merged segment, then deletes the segments it replaces: a snapshot taken just before
        names files that may be gone when ``work`` opens them (a FileNotFoundError). Segments are
        immutable, so the newer manifest gives the same rows (and any appended since). Up to 10
        snapshots in a row, then StoreError; a segment missing under an unchanged manifest is
        damage, a CorruptSegmentError naming it at once.
        """
        snapshot = self.snapshot()
        for _ in range(_READ_ATTEMPTS):
            try:
                return work(snapshot)
            except FileNotFoundError:
                newer = self.snapshot()
                if newer.segments == snapshot.segments:
                    gone = [s.file for s in snapshot.segments if not (snapshot.segments_dir / s.file).exists()]
                    if gone:
                        raise CorruptSegmentError(f"segment {gone[0]} is missing") from None
                    raise
                snapshot = newer
        raise StoreError(
            f"a writer merged segments of {self.home} away under {_READ_ATTEMPTS} reads in a row; try again"
        )

    def read(
        self,
        *,
        stream: str | None = None,
        types: Iterable[str] | None = None,
        from_position: int = 0,
        to_position: int | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        """Events as an Arrow table (EVENT_SCHEMA), in position order, filtered as asked.

        ``to_position`` is exclusive. Raises CorruptSegmentError when a damaged segment
        overlaps the requested positions. A compaction meanwhile is harmless (see ``reading``).
        """
        type_list = list(types) if types is not None else None
        return self.reading(
            lambda snap: _select(
                snap,
                stream=stream,
                types=type_list,
                from_position=from_position,
                to_position=to_position,
                columns=columns,
            )
        )

    def events(self, **filters: object) -> list[Event]:
        """Like ``read`` but decoded into typed Event objects."""
        return events_from_table(self.read(**filters))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ blobs

    def put_blob(self, data: bytes) -> str:
        """Store bytes content-addressed and return their sha256 (write before referencing)."""
        if self.readonly:
            raise StoreError(f"store {self.home} is open read-only")
        return self.blobs.put(data)

    def get_blob(self, digest: str) -> bytes:
        """Return the bytes of blob ``digest``."""
        return self.blobs.get(digest)


def _select(
    snap: Snapshot,
    *,
    stream: str | None,
    types: list[str] | None,
    from_position: int,
    to_position: int | None,
    columns: list[str] | None,
) -> pa.Table:
    """The events of ``snap`` that ``Store.read`` was asked for."""
    end = snap.end if to_position is None else min(to_position, snap.end)
    filters: list[tuple[str, str, object]] = [("position", ">=", from_position), ("position", "<", end)]
    if stream is not None:
        filters.append(("stream", "=", stream))
    if types is not None:
        filters.append(("type", "in", types))
    parts = []
    for segment in snap.segments:
        if segment.last_position < from_position or segment.first_position >= end:
            continue
        if segment.file in snap.damaged:
            raise CorruptSegmentError(snap.damaged[segment.file])
        parts.append(read_segment(snap.segments_dir, segment, columns=columns, filters=filters))
    tail = snap.tail
    mask = pc.and_(pc.greater_equal(tail["position"], from_position), pc.less(tail["position"], end))
    if stream is not None:
        mask = pc.and_(mask, pc.equal(tail["stream"], stream))
    if types is not None:
        mask = pc.and_(mask, pc.is_in(tail["type"], pa.array(types, pa.string())))
    tail = tail.filter(mask)
    parts.append(tail.select(columns) if columns is not None else tail)
    return pa.concat_tables(parts)


def _part(stream: str, events: Sequence[NewEvent | Payload], expected_seq: int | None) -> _Part:
    """One ``(stream, events, expected_seq)`` of an append, validated and encoded."""
    validate_stream_name(stream)
    if not events:
        raise InvalidEventError("an append needs at least one event")
    if expected_seq is not None and (not isinstance(expected_seq, int) or expected_seq < 0):
        raise InvalidEventError(f"expected_seq must be a non-negative int or None, got {expected_seq!r}")
    return _Part(stream, encode_events(events), expected_seq)


@dataclass(frozen=True)
class _Pending:
    """What a commit's group decided so far, before it is written: each stream's next seq, each new id's place."""

    streams: dict[str, int]
    ids: dict[str, tuple[str, int, int]]


def _to_batch(parts: list[_Part], now: dt.datetime) -> pa.RecordBatch:
    """One record batch of the decided ``parts``, whose positions follow on from the first's."""
    n = sum(len(part.events) for part in parts)
    first_position = parts[0].first_position
    return pa.record_batch(
        [
            pa.array(range(first_position, first_position + n), pa.int64()),
            _joined([pa.array(part.events.event_ids, pa.string()) for part in parts]),
            _joined([pa.repeat(part.stream, len(part.events)) for part in parts]),  # type: ignore[arg-type]
            _joined([pa.array(range(part.first_seq, part.first_seq + len(part.events)), pa.int64()) for part in parts]),
            _joined([pa.array(part.events.types, pa.string()) for part in parts]),
            pa.repeat(pa.scalar(now, pa.timestamp("us", tz="UTC")), n),
            _joined([pa.array(part.events.versions, pa.int16()) for part in parts]),
            _joined([part.events.data for part in parts]),
            _joined([pa.array(part.events.blobs, pa.list_(pa.string())) for part in parts]),
        ],
        schema=EVENT_SCHEMA,
    )


def _joined(arrays: list[pa.Array]) -> pa.Array:
    """The arrays end to end (no copy for the usual single part)."""
    return arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)


def _locations(part: _Part) -> Iterator[tuple[str, tuple[str, int, int]]]:
    """(event_id, (stream, seq, position)) for each event of a decided part."""
    n = len(part.events)
    return zip(
        part.events.event_ids,
        zip(
            itertools.repeat(part.stream, n),
            range(part.first_seq, part.first_seq + n),
            range(part.first_position, part.first_position + n),
            strict=True,
        ),
        strict=True,
    )


def _merge_stream_ends(streams: dict[str, int], table: pa.Table) -> None:
    if table.num_rows == 0:
        return
    ends = table.group_by("stream").aggregate([("seq", "max")])
    for stream, seq in zip(ends["stream"].to_pylist(), ends["seq_max"].to_pylist(), strict=True):
        streams[stream] = max(streams.get(stream, 0), seq + 1)


def _merge_runs(segments: Sequence[Segment], merge_rows: int) -> list[list[Segment]]:
    """Adjacent segments grouped greedily while their rows fit in ``merge_rows``; singletons dropped."""
    runs: list[list[Segment]] = []
    current: list[Segment] = []
    for segment in segments:
        if current and sum(s.rows for s in current) + segment.rows > merge_rows:
            runs.append(current)
            current = []
        current.append(segment)
    runs.append(current)
    return [run for run in runs if len(run) > 1]
