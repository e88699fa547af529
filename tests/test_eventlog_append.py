"""The event log's contract: appends, optimistic concurrency, idempotent retries, reads, seals, blobs, locking."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter

import pyarrow.parquet as pq
import pytest

from traj.errors import (
    BlobNotFoundError,
    ConflictError,
    IdempotencyError,
    InvalidEventError,
    StoreError,
    StoreLockedError,
)
from traj.eventlog import (
    EVENT_SCHEMA,
    Action,
    DemoStarted,
    Event,
    NewEvent,
    Observation,
    Store,
    blob_digest,
    verify_store,
)


def ids_of(batch: list[NewEvent]) -> list[str]:
    return [e.event_id for e in batch]


def positions_and_ids(store: Store) -> list[tuple[int, str]]:
    table = store.read(columns=["position", "event_id"])
    return list(zip(table["position"].to_pylist(), table["event_id"].to_pylist(), strict=True))


def assert_log_is_gap_free(store: Store) -> None:
    """Positions are 0..n-1, every stream's seqs are 0..k-1, no event id appears twice."""
    table = store.read(columns=["position", "event_id", "stream", "seq"])
    assert table["position"].to_pylist() == list(range(store.next_position))
    assert len(set(table["event_id"].to_pylist())) == table.num_rows
    seqs: dict[str, list[int]] = {}
    for stream, seq in zip(table["stream"].to_pylist(), table["seq"].to_pylist(), strict=True):
        seqs.setdefault(stream, []).append(seq)
    for stream, found in seqs.items():
        assert found == list(range(len(found))), f"stream {stream} has seqs {found}"


# ---------------------------------------------------------------- appending and expected seqs


def test_first_append_to_a_new_stream_gets_seq_zero_and_position_zero(store, events):
    result = store.append("demo/d1", [events.observation(0)], expected_seq=0)

    assert (result.stream, result.first_seq, result.next_seq) == ("demo/d1", 0, 1)
    assert (result.first_position, result.last_position) == (0, 0)
    assert result.duplicate is False
    assert store.next_position == 1
    assert store.stream_seq("demo/d1") == 1


def test_multi_event_append_gets_consecutive_seqs_and_positions(store, events):
    demo = events.demo("d1", steps=3)

    result = store.append("demo/d1", demo, expected_seq=0)

    assert (result.first_seq, result.next_seq) == (0, len(demo))
    assert (result.first_position, result.last_position) == (0, len(demo) - 1)
    table = store.read()
    assert table["event_id"].to_pylist() == ids_of(demo)
    assert table["seq"].to_pylist() == list(range(len(demo)))
    assert set(table["stream"].to_pylist()) == {"demo/d1"}


def test_streams_number_their_seqs_independently_while_positions_are_global(store, events):
    a1 = store.append("demo/a", [events.observation(0)], expected_seq=0)
    b1 = store.append("demo/b", [events.observation(0), events.action(0)], expected_seq=0)
    a2 = store.append("demo/a", [events.action(0)], expected_seq=1)

    assert (a1.first_seq, b1.first_seq, a2.first_seq) == (0, 0, 1)
    assert (a1.first_position, b1.first_position, b1.last_position, a2.first_position) == (0, 1, 2, 3)
    assert store.stream_seq("demo/a") == 2
    assert store.stream_seq("demo/b") == 2
    assert store.stream_seq("demo/never-written") == 0


def test_stale_expected_seq_is_a_conflict_naming_both_seqs_and_writes_nothing(store, events, one_line):
    store.append("demo/d1", events.demo("d1", steps=1), expected_seq=0)  # 4 events
    before = store.next_position

    with pytest.raises(ConflictError) as caught:
        store.append("demo/d1", [events.observation(1)], expected_seq=2)

    message = one_line(caught.value)
    assert "demo/d1" in message
    assert "expected seq 2" in message
    assert "next seq is 4" in message
    assert (caught.value.stream, caught.value.expected_seq, caught.value.actual_seq) == ("demo/d1", 2, 4)
    assert store.next_position == before
    assert store.stream_seq("demo/d1") == 4


def test_expected_seq_beyond_the_end_of_the_stream_is_a_conflict_too(store, events):
    with pytest.raises(ConflictError, match="expected seq 3, but the stream's next seq is 0"):
        store.append("demo/new", [events.observation(0)], expected_seq=3)
    assert store.next_position == 0


def test_expected_seq_none_appends_at_the_end_without_a_check(store, events):
    store.append("run/r1", [events.observation(0), events.action(0)], expected_seq=0)

    result = store.append("run/r1", [events.observation(1)], expected_seq=None)

    assert (result.first_seq, result.next_seq, result.first_position) == (2, 3, 2)


def test_expected_seq_must_be_a_non_negative_int_or_none(store, events, one_line):
    for bad in (-1, "0", 1.0):
        with pytest.raises(InvalidEventError) as caught:
            store.append("demo/d1", [events.observation(0)], expected_seq=bad)
        assert "expected_seq" in one_line(caught.value)
    assert store.next_position == 0


def test_an_append_needs_at_least_one_event(store):
    with pytest.raises(InvalidEventError, match="at least one event"):
        store.append("demo/d1", [], expected_seq=0)


def test_bare_payloads_get_fresh_uuid7_event_ids(store):
    store.append("demo/d1", [Observation(url="https://a.test"), Action(kind="CLICK", target="e1")], expected_seq=0)

    found = store.read()["event_id"].to_pylist()

    assert len(set(found)) == 2
    assert all(uuid.UUID(i).version == 7 for i in found)
    assert found == sorted(found), "UUIDv7 ids generated in order sort in order"


def test_every_event_type_round_trips_through_the_log_as_its_typed_payload(store, events):
    from traj.eventlog import (
        AdapterCreated,
        AdapterLoaded,
        AdapterUnloaded,
        DatasetSnapshot,
        DemoFinished,
        DemoSuccess,
        DemoVariables,
        Enrichment,
        EnrichmentFailed,
        Feedback,
        ImprovementJobCreated,
        ImprovementJobRan,
        ImprovementJobUpdated,
        LocatorsHealed,
        ReplayFinished,
        ReplayStarted,
        ReplayStep,
        RunFinished,
        RunStarted,
        RunStep,
        SpecialistRegistered,
        SpecialistRolledBack,
        SuccessSpec,
        TrainCheckpoint,
        TrainDiagnosis,
        TrainFinished,
        TrainResumed,
        TrainStarted,
        TrainStep,
        registered_types,
    )

    payloads = [
        DemoStarted(demo_id="d1", task="t", goal="g", url="https://a.test", seed=3, source="script"),
        events.observation(0).data,
        events.action(0).data,
        DemoFinished(demo_id="d1", success=True, answer="42"),
        DemoVariables(demo_id="d1", variables={"amount": ["x"]}, defaults={"amount": "42.50"}),
        DemoSuccess(demo_id="d1", spec=SuccessSpec(url="/done$", texts=["Filed {amount}"]), source="user"),
        LocatorsHealed(demo_id="d1", action_id="x", locators=[("role", 'button "Pay"')], replay_id="p1"),
        RunStarted(run_id="r1", task="t", goal="g", url="https://a.test", backend="transformers", adapter="a1"),
        RunStep(
            run_id="r1",
            step=0,
            prompt_sha256="ab" * 32,
            prompt_tokens=812,
            raw_output='{"kind":"CLICK","target":"9","value":null}',
            parse_method="json",
            proposed={"kind": "CLICK", "target": "9", "value": None},
            outcome="rejected",
            error="error: unknown element 9",
            timings_ms={"observe": 9.5, "generate": 310.0},
        ),
        RunFinished(run_id="r1", success=False, reason="max_steps", steps=15),
        ReplayStarted(replay_id="p1", demo_id="d1"),
        ReplayStep(replay_id="p1", demo_id="d1", step=0, action_id="x", status="healed", strategy="policy"),
        ReplayFinished(replay_id="p1", demo_id="d1", success=True),
        Enrichment(
            demo_id="d1",
            action_id="x",
            step_hash="h",
            model="m",
            prompt_version="1",
            explanation="clicks submit",
            element_rationale="the only submit button",
            expected_outcome="the order page",
            thinking_steps=["look", "click"],
        ),
        EnrichmentFailed(demo_id="d1", action_id="x", step_hash="h", model="m", prompt_version="1", reason="timeout"),
        Feedback(target="run/r1", label="bad", step=2, correction={"kind": "CLICK", "target": "e3"}, note="wrong"),
        TrainStarted(
            job_id="j1",
            objective="sdft",
            base_model="tiny",
            config={"lr": 1e-4, "rank": 8},
            dataset=DatasetSnapshot(view="sdft_examples", as_of_position=5, event_ids=["x"], demo_ids=["d1"]),
        ),
        TrainStep(job_id="j1", step=0, loss=1.5, kl=0.25, grad_norm=0.5, tokens_per_s=1000.0),
        TrainDiagnosis(
            job_id="j1",
            kl=0.25,
            enriched_share=0.5,
            teacher_accuracy=1.0,
            student_accuracy=0.0,
            ema_alpha=0.1,
            unenriched=["d1: steps 1 (timeout)"],
        ),
        TrainCheckpoint(job_id="j1", step=1, blob="0" * 64, size=10),
        TrainResumed(job_id="j1", from_step=1, checkpoint="e1"),
        TrainFinished(job_id="j1", status="completed", steps=1, adapter="a1"),
        AdapterCreated(name="a1", job_id="j1", base_model="tiny", files={"adapter.safetensors": "0" * 64}),
        AdapterLoaded(name="a1", backend="mlx"),
        AdapterUnloaded(name="a1", backend="mlx"),
        ImprovementJobCreated(job="expense-v", scope="task", target="expense", settings={"rank": 4}),
        ImprovementJobUpdated(job="expense-v", scope="task", target="expense", objective="sft", changed=["objective"]),
        ImprovementJobRan(job="expense-v", train_job_id="j1", adapter="a1", registered=True),
        SpecialistRegistered(task="expense", adapter="a1"),
        SpecialistRolledBack(task="expense", adapter="a0", previous="a1", reason="parent"),
    ]
    assert {p.type for p in payloads} == set(registered_types()), "a payload type is missing from this test"

    store.append("mixed/all", payloads, expected_seq=0)
    found = store.events()

    assert [e.data for e in found] == payloads
    assert [e.type for e in found] == [p.type for p in payloads]
    assert all(isinstance(e, Event) and e.v == type(e.data).v and e.at.tzinfo is not None for e in found)


def test_an_action_written_as_v1_reads_as_an_action_beside_v2(store):
    from traj.eventlog import Action, ActionV1, payload_class

    before_v2 = {"kind": "CLICK", "target": "3", "locators": [["role", 'button "Pay"']]}
    # PRESS, DRAG, secrets and drop targets were written as v1 for a while before the bump.
    interim = {"kind": "DRAG", "target": "3", "value": "4", "drop_locators": [["role", 'listitem "Wash"']]}
    written = [NewEvent.parse("action", before_v2, v=1), NewEvent.parse("action", interim, v=1)]
    store.append("demo/d1", [*written, Action(kind="PRESS", value="Tab")], expected_seq=0)

    found = store.events()
    assert [(e.v, type(e.data)) for e in found] == [(1, ActionV1), (1, ActionV1), (2, Action)]
    assert all(isinstance(e.data, Action) for e in found)
    assert (found[0].data.drop_locators, found[1].data.drop_locators) == ([], [("role", 'listitem "Wash"')])
    with pytest.raises(InvalidEventError, match=r"unknown event type 'action' v3"):
        payload_class("action", 3)


def test_run_and_replay_events_written_as_v1_read_beside_v2_with_the_step_sources_defaulted(store):
    from traj.eventlog import LocatorsHealed, LocatorsHealedV1, ReplayStep, ReplayStepV1, RunStep, RunStepV1

    old_step = {
        "run_id": "r1",
        "step": 0,
        "prompt_sha256": "ab",
        "prompt_tokens": 9,
        "raw_output": "x",
        "outcome": "ok",
    }
    old_replay = {"replay_id": "p1", "demo_id": "d1", "step": 0, "action_id": "a1", "status": "ok"}
    old_heal = {"demo_id": "d1", "action_id": "a1", "locators": [["role", 'button "Pay"']], "replay_id": "p1"}
    written = [
        NewEvent.parse("run.step", old_step, v=1),
        NewEvent.parse("replay.step", old_replay, v=1),
        NewEvent.parse("locators.healed", old_heal, v=1),
        RunStep(run_id="r1", step=1, outcome="ok", source="workflow"),
    ]
    store.append("run/r1", written, expected_seq=0)

    found = store.events()
    assert [(e.v, type(e.data)) for e in found] == [
        (1, RunStepV1),
        (1, ReplayStepV1),
        (1, LocatorsHealedV1),
        (2, RunStep),
    ]
    assert (found[0].data.source, found[1].data.source, found[2].data.element) == ("agent", "workflow", None)
    assert isinstance(found[1].data, ReplayStep) and isinstance(found[2].data, LocatorsHealed)
    assert (found[3].data.source, found[3].data.prompt_sha256) == ("workflow", "")


def test_payload_text_with_newlines_quotes_and_unicode_round_trips_exactly(home):
    texts = ["line one\nline two\r\n", 'say "hi" \\ back', "Größe ✓ 価格 🛒", "\x00\x1f\u2028", "", "{}[]\n\n"]
    payloads = [Observation(url=f"https://a.test/{k}", text=t, title=t[::-1]) for k, t in enumerate(texts)]

    with Store.open(home) as store:
        store.append("demo/d1", payloads, expected_seq=0)
        assert [e.data for e in store.events()] == payloads
        store.seal()
        assert [e.data for e in store.events()] == payloads
    assert verify_store(home).ok


def test_one_append_of_thousands_of_events_lands_in_order(store, events):
    batch = [events.action(k) for k in range(3000)]

    result = store.append("run/long", batch, expected_seq=0)

    assert (result.first_position, result.last_position, result.next_seq) == (0, 2999, 3000)
    found = store.events(stream="run/long")
    assert [e.event_id for e in found] == ids_of(batch)
    assert [e.data.step for e in found] == list(range(3000))


# ---------------------------------------------------------------- idempotent retries


def test_exact_retry_is_acknowledged_as_duplicate_without_new_rows(store, events):
    demo = events.demo("d1", steps=2)
    first = store.append("demo/d1", demo, expected_seq=0)

    retry = store.append("demo/d1", demo, expected_seq=0)

    assert retry.duplicate is True
    assert (retry.first_seq, retry.next_seq) == (first.first_seq, first.next_seq)
    assert (retry.first_position, retry.last_position) == (first.first_position, first.last_position)
    assert store.read().num_rows == len(demo)
    assert store.next_position == len(demo)


def test_exact_retry_with_expected_seq_none_is_acknowledged(store, events):
    store.append("demo/other", [events.observation(0)], expected_seq=0)
    batch = [events.observation(0), events.action(0)]
    first = store.append("demo/d1", batch, expected_seq=None)

    retry = store.append("demo/d1", batch, expected_seq=None)

    assert retry.duplicate is True
    assert (retry.first_seq, retry.first_position) == (first.first_seq, first.first_position)
    assert store.next_position == 3


def test_retry_after_the_stream_moved_on_is_acknowledged_and_reports_the_current_next_seq(store, events):
    batch = [events.observation(0)]
    store.append("demo/d1", batch, expected_seq=0)
    store.append("demo/d1", [events.action(0), events.observation(1)], expected_seq=1)

    retry = store.append("demo/d1", batch, expected_seq=0)

    assert retry.duplicate is True
    assert (retry.first_seq, retry.next_seq) == (0, 3)
    assert store.next_position == 3


def test_retry_with_uppercase_event_ids_is_recognised_as_the_same_events(store, events):
    event = events.observation(0)
    store.append("demo/d1", [event], expected_seq=0)
    shouted = NewEvent(data=event.data, event_id=event.event_id.upper())

    retry = store.append("demo/d1", [shouted], expected_seq=0)

    assert retry.duplicate is True
    assert store.read()["event_id"].to_pylist() == [event.event_id]


def test_retry_after_seal_is_acknowledged_without_duplicates(store, events):
    demo = events.demo("d1", steps=2)
    store.append("demo/d1", demo, expected_seq=0)
    store.seal()

    retry = store.append("demo/d1", demo, expected_seq=0)

    assert retry.duplicate is True
    assert (retry.first_seq, retry.first_position, retry.last_position) == (0, 0, len(demo) - 1)
    assert store.read()["event_id"].to_pylist() == ids_of(demo)


def test_retry_after_restart_is_acknowledged_without_duplicates(home, events):
    demo = events.demo("d1", steps=2)
    with Store.open(home) as store:
        store.append("demo/d1", demo, expected_seq=0)

    with Store.open(home) as store:
        retry = store.append("demo/d1", demo, expected_seq=0)
        assert retry.duplicate is True
        assert store.read()["event_id"].to_pylist() == ids_of(demo)
        assert store.next_position == len(demo)


def test_retry_after_seal_and_restart_is_acknowledged_without_duplicates(home, events):
    demo = events.demo("d1", steps=2)
    later = [events.observation(5)]
    with Store.open(home) as store:
        store.append("demo/d1", demo, expected_seq=0)
        store.seal()
        store.append("demo/d1", later, expected_seq=len(demo))

    with Store.open(home) as store:
        sealed_retry = store.append("demo/d1", demo, expected_seq=0)
        wal_retry = store.append("demo/d1", later, expected_seq=len(demo))
        assert sealed_retry.duplicate and wal_retry.duplicate
        assert (sealed_retry.first_position, wal_retry.first_position) == (0, len(demo))
        assert store.read()["event_id"].to_pylist() == ids_of(demo) + ids_of(later)


def test_retry_after_compaction_is_acknowledged_without_duplicates(store, events):
    first = events.demo("d1", steps=1)
    second = events.demo("d2", steps=1)
    store.append("demo/d1", first, expected_seq=0)
    store.seal()
    store.append("demo/d2", second, expected_seq=0)
    store.compact()
    assert len(store.manifest.segments) == 1

    assert store.append("demo/d1", first, expected_seq=0).duplicate
    assert store.append("demo/d2", second, expected_seq=0).duplicate
    assert store.next_position == len(first) + len(second)


def test_partial_overlap_with_an_earlier_append_is_an_idempotency_error(store, events, one_line):
    batch = [events.observation(0), events.action(0)]
    store.append("demo/d1", batch, expected_seq=0)
    overlapping = [batch[1], events.observation(1)]

    with pytest.raises(IdempotencyError) as caught:
        store.append("demo/d1", overlapping, expected_seq=1)

    message = one_line(caught.value)
    assert "partial retry" in message
    assert "1 of 2" in message
    assert store.next_position == 2, "the new event of a partial retry must not be written either"


def test_partial_overlap_with_a_sealed_append_is_an_idempotency_error_after_restart(home, events):
    batch = [events.observation(0), events.action(0)]
    with Store.open(home) as store:
        store.append("demo/d1", batch, expected_seq=0)
        store.seal()

    with Store.open(home) as store:
        with pytest.raises(IdempotencyError, match="partial retry"):
            store.append("demo/d1", [*batch, events.observation(1)], expected_seq=0)
        assert store.next_position == 2


def test_event_ids_re_sent_to_another_stream_are_an_idempotency_error(store, events, one_line):
    batch = [events.observation(0)]
    store.append("demo/d1", batch, expected_seq=0)

    with pytest.raises(IdempotencyError) as caught:
        store.append("demo/d2", batch, expected_seq=0)

    message = one_line(caught.value)
    assert "demo/d2" in message
    assert "demo/d1#0" in message
    assert store.next_position == 1
    assert store.stream_seq("demo/d2") == 0


def test_event_ids_re_sent_at_another_seq_of_the_same_stream_are_an_idempotency_error(store, events):
    batch = [events.observation(1)]
    store.append("demo/d1", [events.observation(0)], expected_seq=0)
    store.append("demo/d1", batch, expected_seq=1)

    with pytest.raises(IdempotencyError, match="appended elsewhere"):
        store.append("demo/d1", batch, expected_seq=0)
    assert store.next_position == 2


def test_an_append_repeating_an_event_id_within_itself_is_refused_and_writes_nothing(store, events):
    event = events.observation(0)

    with pytest.raises(IdempotencyError, match="repeats an event_id"):
        store.append("demo/d1", [event, events.action(0), event], expected_seq=0)

    assert store.next_position == 0
    assert store.append("demo/d1", [event], expected_seq=0).duplicate is False


# ---------------------------------------------------------------- all or nothing


def test_an_append_with_one_invalid_event_writes_none_of_its_events(store, events):
    good = [events.observation(0), events.action(0)]
    bad = NewEvent(data=Action(kind="JUMP"))  # type: ignore[arg-type]

    with pytest.raises(InvalidEventError):
        store.append("demo/d1", [*good, bad], expected_seq=0)

    assert store.next_position == 0
    assert store.stream_seq("demo/d1") == 0
    assert list((store.home / "wal").iterdir()) == [], "no WAL bytes for a refused append"
    assert store.append("demo/d1", good, expected_seq=0).first_seq == 0


def test_a_conflicting_multi_event_append_writes_none_of_its_events(store, events):
    store.append("demo/d1", [events.observation(0)], expected_seq=0)

    with pytest.raises(ConflictError):
        store.append("demo/d1", events.demo("d1", steps=3), expected_seq=0)

    assert store.read().num_rows == 1


# ---------------------------------------------------------------- group commit under concurrency


def test_concurrent_appends_from_many_threads_are_all_acknowledged_without_gaps(home, events):
    threads_per_stream, streams, appends_each = 3, 4, 15
    batches = {
        (s, t, k): [events.observation(k)] + ([events.action(k)] if (s + t + k) % 2 else [])
        for s in range(streams)
        for t in range(threads_per_stream)
        for k in range(appends_each)
    }
    results: dict[tuple[int, int, int], object] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(streams * threads_per_stream)

    with Store.open(home, seal_bytes=48 * 1024) as store:

        def work(s: int, t: int) -> None:
            try:
                start.wait()
                for k in range(appends_each):
                    results[s, t, k] = store.append(f"run/r{s}", batches[s, t, k], expected_seq=None)
            except BaseException as exc:
                errors.append(exc)

        workers = [
            threading.Thread(target=work, args=(s, t)) for s in range(streams) for t in range(threads_per_stream)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

        assert errors == []
        assert len(results) == len(batches)
        total = sum(len(b) for b in batches.values())
        assert store.next_position == total
        store.wait_for_seals()
        assert len(store.manifest.segments) >= 1, "seal_bytes should have sealed during the run"
        assert_log_is_gap_free(store)
        by_position = dict(positions_and_ids(store))
        for key, result in results.items():
            expected = ids_of(batches[key])
            got = [by_position[p] for p in range(result.first_position, result.last_position + 1)]
            assert got == expected, f"append {key} was acknowledged at positions holding other events"
            assert result.next_seq - result.first_seq == len(expected)
        table = store.read(columns=["stream", "position"])
    with Store.open(home) as reopened:
        assert reopened.read(columns=["stream", "position"]).equals(table)
        assert_log_is_gap_free(reopened)
    assert verify_store(home).ok


def test_optimistic_writers_on_one_stream_conflict_and_retry_until_all_land_once(store, events):
    writers, appends_each = 6, 10
    conflicts = Counter()
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def work(w: int) -> None:
        try:
            start.wait()
            for k in range(appends_each):
                batch = [events.observation(k)]
                while True:
                    try:
                        store.append("demo/shared", batch, expected_seq=store.stream_seq("demo/shared"))
                        break
                    except ConflictError:
                        conflicts[w] += 1
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    assert errors == []
    assert store.stream_seq("demo/shared") == writers * appends_each
    assert_log_is_gap_free(store)


def test_concurrent_exact_retries_of_one_append_write_it_once(store, events):
    batch = events.demo("d1", steps=1)
    results = []
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        results.append(store.append("demo/d1", batch, expected_seq=0))

    workers = [threading.Thread(target=work) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    assert sorted(r.duplicate for r in results) == [False] + [True] * 7
    assert {(r.first_position, r.last_position) for r in results} == {(0, len(batch) - 1)}
    assert store.read()["event_id"].to_pylist() == ids_of(batch)


def test_reads_during_concurrent_seals_never_see_an_event_twice(store, events):
    stop = threading.Event()
    anomalies: list[tuple[int, int]] = []
    reads = Counter()

    def read_continuously() -> None:
        while not stop.is_set():
            positions = store.read(columns=["position"])["position"].to_pylist()
            reads["n"] += 1
            if positions != list(range(len(positions))):
                anomalies.append((len(positions), len(set(positions))))

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        for k in range(60):
            store.append("demo/d1", [events.observation(k, words=5)], expected_seq=k)
            store.seal()
    finally:
        stop.set()
        reader.join()

    assert reads["n"] > 0
    assert anomalies == [], f"reads saw (rows, distinct positions) = {anomalies[:5]} while the writer sealed"


# ---------------------------------------------------------------- reading


@pytest.fixture
def mixed_store(store, events):
    """Two demos and a run over two sealed segments and a WAL tail: 14 events."""
    store.append("demo/d1", events.demo("d1", steps=2), expected_seq=0)  # positions 0-5
    store.seal()
    store.append("run/r1", [events.observation(0), events.action(0)], expected_seq=0)  # 6-7
    store.append("demo/d2", events.demo("d2", steps=1), expected_seq=0)  # 8-11
    store.seal()
    store.append("run/r1", [events.observation(1), events.action(1)], expected_seq=2)  # 12-13
    assert len(store.manifest.segments) == 2
    return store


def test_read_by_stream_returns_only_that_stream_in_seq_order(mixed_store):
    table = mixed_store.read(stream="run/r1")

    assert set(table["stream"].to_pylist()) == {"run/r1"}
    assert table["seq"].to_pylist() == [0, 1, 2, 3]
    assert table["position"].to_pylist() == [6, 7, 12, 13]


def test_read_by_types_returns_only_those_types_across_segments_and_wal(mixed_store):
    everything = mixed_store.read()
    wanted = [
        p
        for p, t in zip(everything["position"].to_pylist(), everything["type"].to_pylist(), strict=True)
        if t in ("action", "demo.finished")
    ]

    table = mixed_store.read(types=["action", "demo.finished"])

    assert set(table["type"].to_pylist()) == {"action", "demo.finished"}
    assert table["position"].to_pylist() == wanted
    assert wanted == [2, 4, 5, 7, 10, 11, 13]


def test_read_from_a_global_position_to_a_position_is_half_open(mixed_store):
    assert mixed_store.read(from_position=4)["position"].to_pylist() == list(range(4, 14))
    assert mixed_store.read(from_position=4, to_position=10)["position"].to_pylist() == list(range(4, 10))
    assert mixed_store.read(to_position=3)["position"].to_pylist() == [0, 1, 2]
    assert mixed_store.read(from_position=12)["position"].to_pylist() == [12, 13]
    assert mixed_store.read(from_position=14).num_rows == 0
    assert mixed_store.read(to_position=100).num_rows == 14


def test_read_filters_combine(mixed_store):
    table = mixed_store.read(stream="run/r1", types=["action"], from_position=7, to_position=13)

    assert table["position"].to_pylist() == [7]
    assert mixed_store.read(stream="demo/d2", from_position=9)["seq"].to_pylist() == [1, 2, 3]


def test_read_can_select_columns(mixed_store):
    table = mixed_store.read(columns=["event_id", "seq"], stream="demo/d1")

    assert table.column_names == ["event_id", "seq"]
    assert table["seq"].to_pylist() == list(range(6))


def test_read_returns_the_event_schema(mixed_store):
    assert mixed_store.read().schema.equals(EVENT_SCHEMA)
    assert mixed_store.read(stream="nobody").schema.equals(EVENT_SCHEMA)


def test_events_are_decoded_into_typed_payloads_equal_to_what_was_appended(store, events):
    digest = store.put_blob(b"\x89PNG fake screenshot")
    observation = events.observation(0, screenshot=digest)
    demo = [*events.demo("d1", steps=1), observation]
    store.append("demo/d1", demo, expected_seq=0)
    store.seal()

    found = store.events(stream="demo/d1")

    assert [e.event_id for e in found] == ids_of(demo)
    assert [e.data for e in found] == [e.data for e in demo]
    assert isinstance(found[0].data, DemoStarted)
    assert isinstance(found[-1].data, Observation)
    assert found[-1].blobs == (digest,)
    assert found[-1].data.screenshot == digest
    assert [e.seq for e in found] == list(range(len(demo)))
    assert store.events(types=["observation"], from_position=2) == [found[-1]]


def test_empty_store_reads_as_empty(store):
    assert store.read().num_rows == 0
    assert store.events() == []
    assert store.snapshot().end == 0


# ---------------------------------------------------------------- sealing and compaction


def test_seal_moves_the_wal_into_one_zstd_parquet_segment_listed_in_the_manifest(store, events):
    store.append("demo/d1", events.demo("d1", steps=3), expected_seq=0)
    store.append("demo/d2", events.demo("d2", steps=1), expected_seq=0)
    before = store.read()

    segment = store.seal()

    assert segment is not None
    assert (segment.first_position, segment.last_position, segment.rows) == (0, 11, 12)
    assert store.manifest.segments == (segment,)
    assert list((store.home / "wal").glob("*.arrow")) == []
    path = store.home / "segments" / segment.file
    assert path.stat().st_size == segment.bytes
    assert hashlib.sha256(path.read_bytes()).hexdigest() == segment.sha256
    metadata = pq.read_metadata(path)
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert pq.read_schema(path).remove_metadata().equals(EVENT_SCHEMA)
    assert store.read().equals(before)


def test_seal_with_nothing_to_seal_returns_none(store, events):
    assert store.seal() is None
    store.append("demo/d1", [events.observation(0)], expected_seq=0)
    assert store.seal() is not None
    assert store.seal() is None
    assert len(store.manifest.segments) == 1


def test_the_wal_seals_itself_when_it_reaches_seal_bytes(home, events):
    with Store.open(home, seal_bytes=16 * 1024) as store:
        for k in range(60):
            store.append("demo/d1", [events.observation(k, words=80)], expected_seq=k)
        store.wait_for_seals()  # seals run in the background, off the append path
        assert len(store.manifest.segments) >= 2
        assert store.next_position == 60
        assert_log_is_gap_free(store)
        table = store.read()
    with Store.open(home) as reopened:
        assert reopened.read().equals(table)
    assert verify_store(home).ok


def test_appends_continue_after_seal_and_reopen(home, events):
    with Store.open(home) as store:
        store.append("demo/d1", events.demo("d1", steps=1), expected_seq=0)
        store.seal()
        store.append("demo/d1", [events.observation(9)], expected_seq=4)
    with Store.open(home) as store:
        result = store.append("demo/d1", [events.action(9)], expected_seq=5)
        assert (result.first_seq, result.first_position) == (5, 5)
        with pytest.raises(ConflictError):
            store.append("demo/d1", [events.action(9)], expected_seq=5)
        assert_log_is_gap_free(store)


def test_many_reopen_cycles_keep_every_event_once(home, events):
    written: list[str] = []
    for cycle in range(6):
        with Store.open(home) as store:
            batch = [events.observation(cycle), events.action(cycle)]
            store.append("demo/d1", batch, expected_seq=2 * cycle)
            written += ids_of(batch)
            if cycle % 3 == 2:
                store.seal()
    with Store.open(home) as store:
        assert store.read()["event_id"].to_pylist() == written
        assert_log_is_gap_free(store)
    assert verify_store(home).ok


def test_compact_merges_adjacent_segments_keeping_identical_rows(home, events):
    with Store.open(home) as store:
        for d in range(4):
            store.append(f"demo/d{d}", events.demo(f"d{d}", steps=2), expected_seq=0)
            store.seal()
        store.append("demo/tail", [events.observation(0)], expected_seq=0)
        before = store.read()
        old_files = {s.file for s in store.manifest.segments}
        assert len(old_files) == 4

        merged = store.compact()

        assert len(merged) == 1
        assert store.manifest.segments == tuple(merged)
        assert (merged[0].first_position, merged[0].last_position) == (0, before.num_rows - 1)
        assert {p.name for p in (home / "segments").iterdir()} == {merged[0].file}
        assert not (old_files & {p.name for p in (home / "segments").iterdir()})
        assert list((home / "wal").glob("*.arrow")) == [], "compact seals the WAL first"
        assert store.read().equals(before)
    with Store.open(home) as reopened:
        assert reopened.read().equals(before)
    assert verify_store(home).ok


def test_compact_groups_adjacent_segments_up_to_merge_rows(store, events):
    for d in range(5):
        store.append(f"demo/d{d}", events.demo(f"d{d}", steps=1), expected_seq=0)  # 4 rows each
        store.seal()
    before = store.read()

    merged = store.compact(merge_rows=8)

    assert [s.rows for s in store.manifest.segments] == [8, 8, 4]
    assert len(merged) == 2
    assert store.read().equals(before)
    assert store.compact(merge_rows=8) == [], "nothing left to merge"


# ---------------------------------------------------------------- blobs


def test_put_blob_returns_the_sha256_and_get_blob_returns_the_bytes(store):
    data = os.urandom(3000)

    digest = store.put_blob(data)

    assert digest == hashlib.sha256(data).hexdigest()
    assert store.get_blob(digest) == data


def test_blobs_live_under_sha256_ab_cd_hash(store):
    digest = store.put_blob(b"a screenshot")

    path = store.home / "blobs" / "sha256" / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == b"a screenshot"
    assert [p for p in (store.home / "blobs").rglob("*") if p.is_file()] == [path], "no temp files left"


def test_the_same_bytes_are_stored_once(store):
    first = store.put_blob(b"same bytes")
    path = store.home / "blobs" / "sha256" / first[:2] / first[2:4] / first
    inode = path.stat().st_ino

    second = store.put_blob(b"same bytes")

    assert first == second
    assert path.stat().st_ino == inode
    assert len([p for p in (store.home / "blobs").rglob("*") if p.is_file()]) == 1


def test_a_missing_blob_raises_blob_not_found_error(store, one_line):
    digest = hashlib.sha256(b"never stored").hexdigest()

    with pytest.raises(BlobNotFoundError) as caught:
        store.get_blob(digest)

    assert digest in one_line(caught.value)


def test_a_blob_is_named_before_it_is_stored_by_the_name_it_is_stored_under(store):
    data = b"a screenshot an event cites before the writer stores it"
    named = blob_digest(data)
    with pytest.raises(BlobNotFoundError):
        store.get_blob(named)
    assert store.put_blob(data) == named
    assert store.get_blob(named) == data


def test_a_malformed_blob_digest_is_refused(store):
    with pytest.raises(InvalidEventError, match="sha256"):
        store.get_blob("../../etc/passwd")
    with pytest.raises(InvalidEventError, match="sha256"):
        store.get_blob("AB" * 32)


def test_blobs_survive_reopen_and_are_readable_from_a_read_only_store(home):
    with Store.open(home) as store:
        digest = store.put_blob(b"adapter weights")
    reader = Store.open(home, readonly=True)
    assert reader.get_blob(digest) == b"adapter weights"


def test_verify_reports_an_event_whose_blob_is_missing(store, events):
    present = store.put_blob(b"present")
    absent = hashlib.sha256(b"absent").hexdigest()
    store.append("demo/d1", [events.observation(0, screenshot=present)], expected_seq=0)
    assert verify_store(store.home).ok

    store.append("demo/d1", [events.observation(1, screenshot=absent)], expected_seq=1)

    report = verify_store(store.home)
    assert not report.ok
    assert any(absent in p for p in report.problems)


# ---------------------------------------------------------------- the single-writer lock and readers

_OPEN_IN_CHILD = """
import sys
from traj.eventlog import Store
from traj.errors import StoreLockedError
try:
    Store.open(sys.argv[1])
except StoreLockedError as exc:
    print("LOCKED", exc, sep="\\n", end="")
    sys.exit(3)
print("OPENED", end="")
"""

_HOLD_IN_CHILD = """
import sys, time
from traj.eventlog import Store
store = Store.open(sys.argv[1])
print("ready", flush=True)
time.sleep(60)
"""


def test_a_second_writer_in_another_process_gets_store_locked_error_naming_the_holder(store, events):
    store.append("demo/d1", [events.observation(0)], expected_seq=0)

    child = subprocess.run(
        [sys.executable, "-c", _OPEN_IN_CHILD, str(store.home)], check=False, capture_output=True, text=True, timeout=60
    )

    assert child.returncode == 3, child.stderr
    kind, message = child.stdout.split("\n", 1)
    assert kind == "LOCKED"
    assert "\n" not in message
    assert str(store.home) in message
    assert f"process {os.getpid()}" in message
    assert "read-only" in message
    assert store.append("demo/d1", [events.action(0)], expected_seq=1).first_seq == 1, "the writer is unaffected"


def test_a_second_writer_in_the_same_process_is_refused(store, one_line):
    with pytest.raises(StoreLockedError) as caught:
        Store.open(store.home)
    assert "already open for writing" in one_line(caught.value)


def test_closing_the_writer_releases_the_lock_for_another_process(store):
    store.close()

    child = subprocess.run(
        [sys.executable, "-c", _OPEN_IN_CHILD, str(store.home)], check=False, capture_output=True, text=True, timeout=60
    )

    assert (child.returncode, child.stdout) == (0, "OPENED"), child.stderr


def test_the_lock_dies_with_the_writer_process(home):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_IN_CHILD, str(home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError, match=f"process {holder.pid}"):
            Store.open(home)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)

    with Store.open(home) as store:
        assert store.next_position == 0


def test_a_read_only_store_opens_beside_the_writer_and_sees_new_events_after_refresh(store, events):
    store.append("demo/d1", events.demo("d1", steps=1), expected_seq=0)
    reader = Store.open(store.home, readonly=True)
    assert reader.next_position == 4

    store.append("demo/d1", [events.observation(1)], expected_seq=4)
    reader.refresh()
    assert reader.next_position == 5

    store.seal()
    store.append("demo/d2", [events.observation(0)], expected_seq=0)
    snapshot = reader.snapshot()
    assert snapshot.end == 6
    assert reader.read().equals(store.read())
    assert reader.stream_seq("demo/d1") == 5
    assert [e.event_id for e in reader.events()] == [e.event_id for e in store.events()]


def test_a_reader_snapshot_survives_a_seal_right_after_its_refresh(store, events, monkeypatch):
    """The writer may seal (and delete the WAL file) between a reader's refresh and its read of the tail."""
    store.append("demo/d1", events.demo("d1", steps=1), expected_seq=0)
    reader = Store.open(store.home, readonly=True)
    store.append("demo/d1", [events.observation(1)], expected_seq=4)
    refresh = reader.refresh

    def refresh_then_the_writer_seals() -> None:
        refresh()
        store.seal()

    monkeypatch.setattr(reader, "refresh", refresh_then_the_writer_seals)
    snapshot = reader.snapshot()

    assert snapshot.end == 5
    assert snapshot.tail.num_rows == 5


def test_a_read_only_process_reads_beside_a_live_writer(store, events):
    store.append("demo/d1", events.demo("d1", steps=2), expected_seq=0)
    store.seal()
    store.append("demo/d1", [events.observation(3)], expected_seq=6)
    script = (
        "import sys; from traj.eventlog import Store; "
        "s = Store.open(sys.argv[1], readonly=True); "
        "print(s.read().num_rows, s.stream_seq('demo/d1'))"
    )

    child = subprocess.run(
        [sys.executable, "-c", script, str(store.home)], check=False, capture_output=True, text=True, timeout=60
    )

    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["7", "7"]


def test_a_read_only_store_refuses_to_write(store, events):
    store.append("demo/d1", [events.observation(0)], expected_seq=0)
    reader = Store.open(store.home, readonly=True)

    for attempt in (
        lambda: reader.append("demo/d1", [events.action(0)], expected_seq=1),
        reader.seal,
        reader.compact,
        lambda: reader.put_blob(b"x"),
    ):
        with pytest.raises(StoreError, match="read-only"):
            attempt()
    assert store.next_position == 1


def test_opening_a_missing_store_read_only_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="no traj store"):
        Store.open(tmp_path / "nowhere", readonly=True)
    assert not (tmp_path / "nowhere").exists()


def test_a_closed_store_refuses_appends(store, events):
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.append("demo/d1", [events.observation(0)], expected_seq=0)


def test_the_store_lives_in_traj_home_when_no_directory_is_given(tmp_path, monkeypatch, events):
    monkeypatch.setenv("TRAJ_HOME", str(tmp_path / "elsewhere"))

    with Store.open() as store:
        store.append("demo/d1", [events.observation(0)], expected_seq=0)

    assert (tmp_path / "elsewhere" / "wal").is_dir()
    assert Store.open(tmp_path / "elsewhere", readonly=True).next_position == 1
