"""The event store against a model: a dict of streams and the acknowledged ids in position order.

Hypothesis drives appends, exact retries, conflicting appends, seals, compactions, clean
reopens and simulated process deaths (the WAL left without its end-of-stream marker, a
torn tail of garbage or of a half-written batch), and after every step checks that the log,
the DuckDB projections kept alive across steps, and projections rebuilt from scratch all
agree with the model.

Simulating a crash inside one process reads private attributes of the store (its lock and
its WAL writer); only this test does that.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import hypothesis.strategies as st
import msgspec
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from traj.errors import ConflictError
from traj.eventlog import (
    EVENT_SCHEMA,
    Action,
    AppendResult,
    DemoFinished,
    DemoStarted,
    Enrichment,
    EnrichmentFailed,
    NewEvent,
    Observation,
    Store,
)
from traj.eventlog._wal import wal_header
from traj.projections import Projections

SEAL_BYTES = 16 * 1024
# Bytes that pyarrow reads as a clean end of stream: a crash that leaves exactly these
# behind lost nothing, so recovery has nothing to drop.
END_OF_STREAM_MARKERS = (b"\xff\xff\xff\xff\x00\x00\x00\x00", b"\x00\x00\x00\x00")
HEADER_BYTES = len(wal_header())
COMPARED_VIEWS = ("events", "steps", "sdft_examples", "demos")


@dataclass(frozen=True)
class Batch:
    """One acknowledged append, kept so that it can be retried."""

    stream: str
    events: tuple[NewEvent, ...]
    expected_seq: int
    first_position: int


@dataclass(frozen=True)
class Unacknowledged:
    """An append that was being written when the process died."""

    stream: str
    events: tuple[NewEvent, ...]
    expected_seq: int
    survived: bool
    """True when the whole checksummed batch reached the file before the crash."""


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.home = Path(tempfile.mkdtemp(prefix="traj-stateful-")) / "store"
        self.store: Store | None = None
        self.projections: Projections | None = None
        self.streams: dict[str, list[NewEvent]] = {}
        self.acked: list[str] = []
        self.batches: list[Batch] = []
        self.unacked: Unacknowledged | None = None
        self.demo_counter = 0
        self.rebuilt: tuple[int, dict[str, list[dict]]] | None = None

    @initialize()
    def open_store(self) -> None:
        self.store = Store.open(self.home, seal_bytes=SEAL_BYTES)
        assert self.store.recovery == []
        self.projections = Projections(self.store, threads=1)

    def teardown(self) -> None:
        if self.projections is not None:
            self.projections.close()
        if self.store is not None:
            self.store.close()
        shutil.rmtree(self.home.parent, ignore_errors=True)

    # ------------------------------------------------------------------ model helpers

    def next_seq(self, stream: str) -> int:
        return len(self.streams.get(stream, []))

    def unfinished_demo_streams(self) -> list[str]:
        return sorted(
            s
            for s, events in self.streams.items()
            if s.startswith("demo/") and not any(e.data.type == "demo.finished" for e in events)
        )

    def draw_demo_batch(self, data: st.DataObject) -> tuple[str, list[NewEvent]]:
        """Demo-shaped events for a new demo stream or the next part of an unfinished one."""
        choices = [*self.unfinished_demo_streams(), None]
        stream = data.draw(st.sampled_from(choices), label="stream")
        events: list[NewEvent] = []
        if stream is None:
            self.demo_counter += 1
            demo_id = f"d{self.demo_counter}"
            stream = f"demo/{demo_id}"
            events.append(
                NewEvent(data=DemoStarted(demo_id=demo_id, task="form", goal="Fill the form", url="http://x/"))
            )
            pairs = data.draw(st.integers(0, 3), label="pairs")
        else:
            demo_id = stream.split("/", 1)[1]
            pairs = data.draw(st.integers(1, 3), label="pairs")
        step = sum(e.data.type == "action" for e in self.streams.get(stream, []))
        page = data.draw(st.integers(0, 1500), label="page bytes")
        for k in range(step, step + pairs):
            observation = NewEvent(data=Observation(url=f"http://x/{k}", text="w" * page, step=k))
            action = Action(kind="TYPE", target=f"e-{k}", value=f"v{k}", observation_id=observation.event_id, step=k)
            events += [observation, NewEvent(data=action)]
        if data.draw(st.booleans(), label="finish"):
            events.append(NewEvent(data=Observation(url="http://x/done", step=step + pairs)))
            events.append(NewEvent(data=DemoFinished(demo_id=demo_id, success=data.draw(st.booleans()))))
        return stream, events

    def record(self, stream: str, events: list[NewEvent] | tuple[NewEvent, ...], expected_seq: int) -> None:
        self.batches.append(Batch(stream, tuple(events), expected_seq, len(self.acked)))
        self.streams.setdefault(stream, []).extend(events)
        self.acked.extend(e.event_id for e in events)

    def all_actions(self) -> list[NewEvent]:
        return [
            e
            for s, events in sorted(self.streams.items())
            if s.startswith("demo/")
            for e in events
            if e.data.type == "action"
        ]

    def expected_steps(self) -> list[tuple[str, str | None, str | None]]:
        """(action id, observation before, observation after) for every action."""
        rows = []
        for events in self.streams.values():
            for i, candidate in enumerate(events):
                if candidate.data.type != "action":
                    continue
                before = [e.event_id for e in events[:i] if e.data.type == "observation"]
                after = [e.event_id for e in events[i + 1 :] if e.data.type == "observation"]
                rows.append((candidate.event_id, before[-1] if before else None, after[0] if after else None))
        return sorted(rows)

    def wal_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.home / "wal").glob("*.arrow"))

    # ------------------------------------------------------------------ rules

    @rule(data=st.data())
    def append_demo_events(self, data: st.DataObject) -> None:
        stream, events = self.draw_demo_batch(data)
        expected = self.next_seq(stream)
        result = self.store.append(stream, events, expected)
        first = len(self.acked)
        assert result == AppendResult(stream, expected, expected + len(events), first, first + len(events) - 1)
        self.record(stream, events, expected)

    @precondition(lambda self: any(True for _ in self.all_actions()))
    @rule(data=st.data(), valid=st.booleans())
    def enrich_a_step(self, data: st.DataObject, valid: bool) -> None:
        action = data.draw(st.sampled_from(self.all_actions()), label="action")
        demo_id = next(s for s, events in self.streams.items() if action in events).split("/", 1)[1]
        common = {
            "demo_id": demo_id,
            "action_id": action.event_id,
            "step_hash": "h",
            "model": "m",
            "prompt_version": "1",
        }
        payload = (
            Enrichment(**common, explanation="why", element_rationale="which", expected_outcome="what")
            if valid
            else EnrichmentFailed(**common, reason="timeout")
        )
        stream = f"enrich/{demo_id}"
        expected = self.next_seq(stream)
        event = NewEvent(data=payload)
        result = self.store.append(stream, [event], expected)
        assert (result.first_seq, result.next_seq, result.first_position) == (expected, expected + 1, len(self.acked))
        self.record(stream, [event], expected)

    @precondition(lambda self: self.batches)
    @rule(data=st.data())
    def retry_an_acknowledged_append(self, data: st.DataObject) -> None:
        batch = data.draw(st.sampled_from(self.batches), label="batch")
        self.store.wait_for_seals()  # a background seal may still be dropping WAL files
        end, wal = self.store.next_position, self.wal_bytes()
        result = self.store.append(batch.stream, list(batch.events), batch.expected_seq)
        assert result == AppendResult(
            batch.stream,
            batch.expected_seq,
            self.next_seq(batch.stream),
            batch.first_position,
            batch.first_position + len(batch.events) - 1,
            duplicate=True,
        )
        assert (self.store.next_position, self.wal_bytes()) == (end, wal)

    @rule(data=st.data())
    def append_with_a_wrong_expected_seq_conflicts(self, data: st.DataObject) -> None:
        stream, events = self.draw_demo_batch(data)
        actual = self.next_seq(stream)
        wrong = data.draw(st.integers(0, actual + 5).filter(lambda n: n != actual), label="expected_seq")
        self.store.wait_for_seals()  # a background seal may still be dropping WAL files
        end, wal = self.store.next_position, self.wal_bytes()
        with pytest.raises(ConflictError) as caught:
            self.store.append(stream, events, wrong)
        assert (caught.value.stream, caught.value.expected_seq, caught.value.actual_seq) == (stream, wrong, actual)
        assert f"expected seq {wrong}" in str(caught.value)
        assert f"next seq is {actual}" in str(caught.value)
        assert (self.store.next_position, self.wal_bytes()) == (end, wal)

    @rule()
    def seal(self) -> None:
        self.store.seal()
        assert list((self.home / "wal").glob("*.arrow")) == []
        assert self.store.manifest.next_position == len(self.acked)

    @rule(merge_rows=st.sampled_from([5, 40, 1000]))
    def compact(self, merge_rows: int) -> None:
        before = self.store.manifest.segments
        self.store.compact(merge_rows=merge_rows)
        segments = self.store.manifest.segments
        assert list((self.home / "wal").glob("*.arrow")) == []
        assert len(segments) <= len(before) + 1
        assert sorted(p.name for p in (self.home / "segments").iterdir()) == sorted(s.file for s in segments)

    @rule()
    def reopen(self) -> None:
        self.projections.close()
        self.store.close()
        self.store = Store.open(self.home, seal_bytes=SEAL_BYTES)
        assert self.store.recovery == []
        self.projections = Projections(self.store, threads=1)

    @rule(data=st.data(), mode=st.sampled_from(["killed", "garbage_tail", "torn_append"]))
    def crash_and_recover(self, data: st.DataObject, mode: str) -> None:
        """The process dies: no end-of-stream marker, maybe a torn tail past the last acknowledged batch."""
        store = self.store
        # A real crash stops the background sealer too (the subprocess crash test kills it
        # mid-seal); here its thread would outlive the "dead" store, so let it finish first.
        store.wait_for_seals()
        self.projections.close()
        tail_kept = dropped = 0
        path = None
        if mode != "killed":
            # The dying process was writing: into its open WAL file, or into the file its first
            # append after an open or a seal was creating (the header goes out with that append).
            fresh_file = store._writer is None
            writer = store._wal_writer()
            path = writer.path
            acked_end = writer.size
            assert path.stat().st_size == acked_end
            if mode == "garbage_tail" and not fresh_file:
                tail = data.draw(st.binary(min_size=1, max_size=300), label="garbage")
                with open(path, "ab") as f:
                    f.write(tail)
                tail_kept = len(tail) if tail in END_OF_STREAM_MARKERS else 0
                dropped = len(tail) - tail_kept
            else:
                stream, events = self.draw_demo_batch(data)
                expected = self.next_seq(stream)
                writer.write(_record_batch(stream, events, expected, len(self.acked)))
                writer._file.flush()
                written = path.stat().st_size - acked_end
                whole = data.draw(st.booleans(), label="the whole batch reached the disk")
                cut = written if whole else data.draw(st.integers(1, written - 1), label="bytes that reached the disk")
                os.truncate(path, acked_end + cut)
                survived = cut == written
                self.unacked = Unacknowledged(stream, tuple(events), expected, survived)
                if survived:  # durable though never acknowledged: recovery keeps it
                    self.record(stream, events, expected)
                    tail_kept = written
                else:  # a fresh file keeps its complete header until the empty file is removed
                    dropped = cut - (HEADER_BYTES if fresh_file and cut >= HEADER_BYTES else 0)
        if store._writer is not None:
            store._writer._file.close()  # the OS closes the fd; nobody writes the end-of-stream marker
        store._lock.release()  # the kernel drops a dead process's flock
        self.store = None

        event(f"crash: {mode}, {'bytes dropped' if dropped else 'nothing to drop'}")
        self.store = Store.open(self.home, seal_bytes=SEAL_BYTES)
        dropped_lines = [line for line in self.store.recovery if "unacknowledged bytes" in line]
        if dropped:
            assert len(dropped_lines) == 1, self.store.recovery
            assert dropped_lines[0].startswith(f"{path.name}: dropped {dropped} unacknowledged bytes ("), dropped_lines
        else:
            assert dropped_lines == [], self.store.recovery
        if path is not None and path.exists():
            assert path.stat().st_size == acked_end + tail_kept
        assert self.store.next_position == len(self.acked)
        self.projections = Projections(self.store, threads=1)

    @rule()
    def retry_the_append_a_crash_interrupted(self) -> None:
        # No precondition: a rule that is rarely enabled makes Hypothesis discard examples.
        if self.unacked is None:
            return
        pending, self.unacked = self.unacked, None
        actual = self.next_seq(pending.stream)
        if pending.survived:
            result = self.store.append(pending.stream, list(pending.events), pending.expected_seq)
            assert result.duplicate
        elif actual != pending.expected_seq:
            with pytest.raises(ConflictError):
                self.store.append(pending.stream, list(pending.events), pending.expected_seq)
        else:
            result = self.store.append(pending.stream, list(pending.events), pending.expected_seq)
            assert not result.duplicate
            assert result.first_position == len(self.acked)
            self.record(pending.stream, pending.events, pending.expected_seq)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def every_acknowledged_event_is_in_the_log_exactly_once(self) -> None:
        if self.store is None:
            return
        table = self.store.read(columns=["position", "event_id", "stream", "seq"])
        assert table["event_id"].to_pylist() == self.acked
        assert table["position"].to_pylist() == list(range(len(self.acked)))
        assert self.store.next_position == len(self.acked)
        by_stream: dict[str, list[tuple[int, str]]] = {}
        for row in table.to_pylist():
            by_stream.setdefault(row["stream"], []).append((row["seq"], row["event_id"]))
        assert set(by_stream) == set(self.streams)
        for stream, rows in by_stream.items():
            assert [seq for seq, _ in rows] == list(range(len(rows))), stream
            assert [event_id for _, event_id in rows] == [e.event_id for e in self.streams[stream]]

    @invariant()
    def projections_agree_with_the_model_and_with_a_rebuild_from_scratch(self) -> None:
        if self.projections is None:
            return
        # The live projection, only ever refreshed (query() refreshes before it runs).
        live = {view: self.projections.query(f"SELECT * FROM {view} ORDER BY position") for view in COMPARED_VIEWS}

        counts = count_by(live["events"], "stream")
        assert counts == {s: len(events) for s, events in self.streams.items()}

        demos = {r["stream"]: (r["demo_id"], r["steps"], r["success"]) for r in live["demos"].to_pylist()}
        assert demos == self.expected_demos()

        steps = live["steps"].select(["action_id", "observation_id", "next_observation_id"]).to_pylist()
        assert sorted(tuple(r.values()) for r in steps) == self.expected_steps()

        sources = live["sdft_examples"].select(["action_id", "context_source"]).to_pylist()
        assert {r["action_id"]: r["context_source"] for r in sources} == self.expected_context_sources()

        # Projections rebuilt from scratch on a fresh read-only open. They are a pure function of
        # the log, so while the log has not grown their rows are the ones computed last time.
        end = self.store.next_position
        if self.rebuilt is None or self.rebuilt[0] != end:
            fresh_store = Store.open(self.home, readonly=True)
            with Projections(fresh_store, threads=1) as fresh:
                rows = {v: fresh.query(f"SELECT * FROM {v} ORDER BY position").to_pylist() for v in COMPARED_VIEWS}
            fresh_store.close()
            self.rebuilt = (end, rows)
        for view in COMPARED_VIEWS:
            assert live[view].to_pylist() == self.rebuilt[1][view], view

    def expected_demos(self) -> dict[str, tuple[str, int, bool | None]]:
        expected = {}
        for stream, events in self.streams.items():
            if stream.startswith("demo/"):
                finished = [e.data.success for e in events if e.data.type == "demo.finished"]
                steps = sum(e.data.type == "action" for e in events)
                expected[stream] = (stream.split("/", 1)[1], steps, finished[-1] if finished else None)
        return expected

    def expected_context_sources(self) -> dict[str, str]:
        enriched = {
            e.data.action_id
            for s, events in self.streams.items()
            if s.startswith("enrich/")
            for e in events
            if e.data.type == "enrichment"
        }
        return {a.event_id: "enrichment" if a.event_id in enriched else "raw_action" for a in self.all_actions()}


def count_by(table: pa.Table, column: str) -> dict[str, int]:
    counts = table.group_by(column).aggregate([(column, "count")])
    return dict(zip(counts[column].to_pylist(), counts[f"{column}_count"].to_pylist(), strict=True))


def _record_batch(stream: str, events: list[NewEvent], first_seq: int, first_position: int) -> pa.RecordBatch:
    """The batch an append of ``events`` would write (same envelope, same encoding)."""
    n = len(events)
    return pa.record_batch(
        [
            pa.array(range(first_position, first_position + n), pa.int64()),
            pa.array([e.event_id for e in events], pa.string()),
            pa.array([stream] * n, pa.string()),
            pa.array(range(first_seq, first_seq + n), pa.int64()),
            pa.array([e.data.type for e in events], pa.string()),
            pa.array([dt.datetime.now(dt.UTC)] * n, pa.timestamp("us", tz="UTC")),
            pa.array([e.data.v for e in events], pa.int16()),
            pa.array([msgspec.json.encode(e.data).decode() for e in events], pa.string()),
            pa.array([list(e.blobs) for e in events], pa.list_(pa.string())),
        ],
        schema=EVENT_SCHEMA,
    )


StoreMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestStoreMachine = StoreMachine.TestCase
