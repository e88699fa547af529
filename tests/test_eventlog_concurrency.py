"""Threads sharing one Store: the lazily built seq/id state, readers' refreshes, and appends "at the end".

The races here need a thread to overlap the first build of the per-stream seqs and the id
index, so every round opens a fresh copy of a store whose WAL holds thousands of events
(the build then takes long enough to overlap). Each round is cheap; together they make a
stale state all but certain to show on code that has the race (about 1 round in 3 did).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from traj.errors import ConflictError, StoreError
from traj.eventlog import NewEvent, Observation, Store, append_at_end

ROUNDS = 30
WAL_EVENTS = 20_000


@pytest.fixture(scope="module")
def big_wal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed store whose WAL holds WAL_EVENTS small events on one stream (nothing sealed)."""
    home = tmp_path_factory.mktemp("big-wal") / "store"
    with Store.open(home) as store:
        for start in range(0, WAL_EVENTS, 1000):
            batch = [Observation(url=f"https://a.test/{start + k}") for k in range(1000)]
            store.append("demo/bulk", batch, expected_seq=start)
    return home


@pytest.fixture(scope="module")
def sealed_with_tail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed store of ten sealed segments of 1,000 events and a WAL tail of 2,000."""
    home = tmp_path_factory.mktemp("sealed") / "store"
    with Store.open(home) as store:
        for start in range(0, 12_000, 1000):
            batch = [Observation(url=f"https://a.test/{start + k}") for k in range(1000)]
            store.append("demo/bulk", batch, expected_seq=start)
            if start < 10_000:
                store.seal()
    return home


def run_together(*actions: Callable[[], object]) -> list[BaseException]:
    """Run the actions in threads released at once; the errors they raised."""
    start = threading.Barrier(len(actions))
    errors: list[BaseException] = []

    def run(action: Callable[[], object]) -> None:
        start.wait()
        try:
            action()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def fresh_copy(big_wal: Path, tmp_path: Path, round_: int) -> Path:
    home = tmp_path / f"round-{round_}"
    shutil.copytree(big_wal, home)
    return home


def assert_written_once(store: Store, stream: str, events: int) -> None:
    """``stream`` holds seqs 0..events-1, each event id once (what verify checks, for one stream)."""
    table = store.read(stream=stream, columns=["seq", "event_id"])
    assert table["seq"].to_pylist() == list(range(events))
    assert len(set(table["event_id"].to_pylist())) == events


def test_stream_seq_beside_the_first_append_after_open_never_duplicates_a_seq_or_a_retry(big_wal, tmp_path):
    for round_ in range(ROUNDS):
        home = fresh_copy(big_wal, tmp_path, round_)
        first = NewEvent(data=Observation(url="https://a.test/first"))
        with Store.open(home) as store:
            errors = run_together(
                lambda: store.stream_seq("demo/other"),
                lambda: store.append("demo/s", [first], expected_seq=0),  # noqa: B023 -- joined in the loop
            )
            assert errors == []
            retry = store.append("demo/s", [first], expected_seq=0)
            second = store.append("demo/s", [Observation(url="https://a.test/second")], expected_seq=None)

            assert retry.duplicate, f"round {round_}: the exact retry was written again"
            assert (second.first_seq, store.stream_seq("demo/s")) == (1, 2), f"round {round_}"
            assert store.stream_seq("demo/bulk") == WAL_EVENTS
            assert_written_once(store, "demo/s", 2)
        shutil.rmtree(home)


def test_stream_seq_beside_a_compaction_right_after_open_keeps_every_stream_end(sealed_with_tail, tmp_path):
    for round_ in range(ROUNDS // 3):
        home = fresh_copy(sealed_with_tail, tmp_path, round_)
        with Store.open(home) as store:
            errors = run_together(lambda: store.stream_seq("demo/other"), store.compact)
            assert errors == []
            result = store.append("demo/bulk", [Observation(url="https://a.test/next")], expected_seq=None)
            assert result.first_seq == 12_000, f"round {round_}"
            assert_written_once(store, "demo/bulk", 12_001)
        shutil.rmtree(home)


def test_two_writers_stating_the_same_expected_seq_get_one_append_and_one_conflict(big_wal, tmp_path):
    for round_ in range(ROUNDS // 3):
        home = fresh_copy(big_wal, tmp_path, round_)
        with Store.open(home) as store:
            errors = run_together(
                *(
                    lambda: store.append("demo/s", [Observation(url="https://a.test")], store.stream_seq("demo/s"))
                    for _ in range(2)
                )
            )
            assert store.stream_seq("demo/s") + len(errors) == 2
            assert all(isinstance(e, ConflictError) for e in errors), errors
            assert_written_once(store, "demo/s", store.stream_seq("demo/s"))
        shutil.rmtree(home)


def test_appends_at_the_end_from_many_threads_all_land_once_in_order_of_seq(store, events):
    writers, appends_each = 4, 10

    def write() -> None:
        for k in range(appends_each):
            append_at_end(store, "demo/shared", lambda k=k: [events.observation(k)])  # type: ignore[misc]

    assert run_together(*([write] * writers)) == []
    table = store.read(stream="demo/shared", columns=["seq", "event_id"])
    assert table["seq"].to_pylist() == list(range(writers * appends_each))
    assert len(set(table["event_id"].to_pylist())) == writers * appends_each


def test_append_at_end_rebuilds_the_events_from_the_stream_as_it_is_after_a_conflict(store):
    """The builder reads the stream; a writer that gets in between makes it read again, never append stale."""
    seen: list[int] = []

    def next_counter() -> list[Observation]:
        count = store.stream_seq("demo/counter")
        seen.append(count)
        if len(seen) == 1:  # another writer gets in between this read and the append
            store.append("demo/counter", [Observation(url="https://a.test/0")], expected_seq=0)
        return [Observation(url=f"https://a.test/{count}")]

    result = append_at_end(store, "demo/counter", next_counter)

    assert seen == [0, 1]
    assert result.first_seq == 1
    urls = [e.data.url for e in store.events(stream="demo/counter")]
    assert urls == ["https://a.test/0", "https://a.test/1"]


def test_a_read_only_store_shared_by_threads_returns_each_event_once(home, events):
    writer = Store.open(home)
    writer.append("demo/a", [events.observation(0)], expected_seq=0)
    reader = Store.open(home, readonly=True)
    stop = threading.Event()
    wrong: list[str] = []

    def read_until_stopped() -> None:
        while not stop.is_set():
            positions = reader.read(columns=["position"])["position"].to_pylist()
            if positions != list(range(len(positions))):
                wrong.append(f"{len(positions)} rows, {len(set(positions))} distinct")

    readers = [threading.Thread(target=read_until_stopped) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        for k in range(1, 100):
            writer.append("demo/a", [events.observation(k)], expected_seq=k)
    finally:
        stop.set()
        for thread in readers:
            thread.join()
        writer.close()
    assert wrong == []
    assert reader.read(columns=["position"]).num_rows == 100


def test_closing_beside_appending_threads_writes_nothing_after_close_and_keeps_every_acknowledged_event(
    home, events, tree_bytes
):
    store = Store.open(home)
    acknowledged: list[str] = []
    refusals: list[str] = []
    started = threading.Barrier(4)

    def append_until_refused() -> None:
        started.wait()
        while True:
            event = events.observation(0)
            try:
                store.append("demo/busy", [event], expected_seq=None)
            except StoreError as exc:
                refusals.append(str(exc))
                return
            acknowledged.append(event.event_id)

    writers = [threading.Thread(target=append_until_refused) for _ in range(3)]
    for thread in writers:
        thread.start()
    started.wait()
    while len(acknowledged) < 50 and all(thread.is_alive() for thread in writers):
        time.sleep(0.001)
    store.close()
    files_at_close = tree_bytes(home)
    for thread in writers:
        thread.join()

    assert tree_bytes(home) == files_at_close, "an append wrote after close() returned"
    assert all("is closed" in refusal for refusal in refusals), refusals
    with Store.open(home) as reopened:
        assert set(acknowledged) <= set(reopened.read(columns=["event_id"])["event_id"].to_pylist())
