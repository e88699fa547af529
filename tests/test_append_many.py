"""``Store.append_many``: several streams appended in one commit, all of them or none.

A bundle import writes many streams that only make sense together. Each part is checked as
``append`` checks it; one stale expected seq or misused event id refuses the whole call, a crash
part way through its write keeps none of it, and an exact retry is acknowledged per stream.
"""

from __future__ import annotations

import contextlib
import shutil
import threading

import pytest

from traj.errors import ConflictError, IdempotencyError, InvalidEventError
from traj.eventlog import Store, verify_store


def _log(store: Store) -> list[dict]:
    return store.read(columns=["position", "event_id", "stream", "seq"]).to_pylist()


def test_one_stale_stream_refuses_the_whole_call_and_writes_nothing(store, events):
    store.append("demo/b", events.demo("b", steps=1), 0)
    before = _log(store)
    with pytest.raises(ConflictError, match="demo/b"):
        store.append_many([("demo/a", events.demo("a", steps=1), 0), ("demo/b", events.demo("b2", steps=1), 0)])
    assert _log(store) == before
    assert store.stream_seq("demo/a") == 0


def test_a_partial_retry_in_one_stream_refuses_the_whole_call(store, events):
    first = events.demo("b", steps=1)
    store.append("demo/b", first[:2], 0)
    before = _log(store)
    with pytest.raises(IdempotencyError, match="partial retry on 'demo/b'"):
        store.append_many([("demo/a", events.demo("a", steps=1), 0), ("demo/b", first, 0)])
    assert _log(store) == before


def test_parts_are_placed_in_order_and_a_stream_named_twice_continues(store, events):
    a, b = events.demo("a", steps=1), events.demo("b", steps=2)
    results = store.append_many([("demo/a", a[:2], 0), ("demo/b", b, 0), ("demo/a", a[2:], 2)])
    assert [(r.stream, r.first_seq, r.next_seq, r.first_position, r.last_position) for r in results] == [
        ("demo/a", 0, 2, 0, 1),
        ("demo/b", 0, 6, 2, 7),
        ("demo/a", 2, 4, 8, 9),
    ]
    assert [e.event_id for e in store.events(stream="demo/a")] == [e.event_id for e in a]
    assert verify_store(store.home).ok


def test_an_exact_retry_is_acknowledged_per_stream_and_written_once(home, events):
    a, b, c = events.demo("a", steps=1), events.demo("b", steps=1), events.demo("c", steps=1)
    with Store.open(home) as store:
        first = store.append_many([("demo/a", a, 0), ("demo/b", b, 0)])
    with Store.open(home) as store:  # after a restart too
        again = store.append_many([("demo/a", a, 0), ("demo/b", b, 0)])
        assert [r.duplicate for r in again] == [True, True]
        assert [(r.first_position, r.last_position) for r in again] == [
            (r.first_position, r.last_position) for r in first
        ]
        assert store.next_position == 8
        mixed = store.append_many([("demo/a", a, 0), ("demo/c", c, 0)])  # one stream a retry, one new
        assert [(r.duplicate, r.first_position) for r in mixed] == [(True, 0), (False, 8)]
        assert store.next_position == 12
    assert verify_store(home).ok


def test_a_write_torn_part_way_keeps_none_of_the_streams(home, tmp_path, events):
    """A crash while the call's bytes reach the disk: the recovered log holds none of its parts."""
    crashed = tmp_path / "crashed"
    with Store.open(home) as store:
        store.append("demo/first", events.demo("first", steps=1), 0)
        wal = next((home / "wal").glob("*.arrow"))
        before = wal.stat().st_size
        store.append_many([("demo/a", events.demo("a", steps=3), 0), ("demo/b", events.demo("b", steps=3), 0)])
        after = wal.stat().st_size
        shutil.copytree(home, crashed)  # the disk as a crash would leave it: no end-of-stream marker
    with open(crashed / "wal" / wal.name, "r+b") as f:  # and only part of the call's bytes on it
        f.truncate(before + (after - before) * 3 // 4)
    with Store.open(crashed) as store:
        assert {row["stream"] for row in _log(store)} == {"demo/first"}
        assert store.recovery and "unacknowledged" in store.recovery[0]
    assert verify_store(crashed).ok


def _race(store: Store, calls: list[list[tuple[str, list, int]]]) -> list[str]:
    """Run each ``append_many`` call in its own thread, released together; 'landed' or 'refused' each."""
    outcome: list[str] = []
    barrier = threading.Barrier(len(calls))

    def write(appends: list[tuple[str, list, int]]) -> None:
        barrier.wait()
        try:
            store.append_many(appends)
            outcome.append("landed")
        except ConflictError:
            outcome.append("refused")

    threads = [threading.Thread(target=write, args=(appends,)) for appends in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcome)


def test_two_writers_racing_over_shared_streams_one_wins_whole(store, events):
    """Each round two threads append to both streams at the seqs they read: one call lands whole, the other none."""
    for round_ in range(20):
        expected = {s: store.stream_seq(s) for s in ("demo/x", "demo/y")}
        calls = [[(s, events.demo(f"{who}{round_}", steps=1), seq) for s, seq in expected.items()] for who in "pq"]
        assert _race(store, calls) == ["landed", "refused"]
        assert store.stream_seq("demo/x") == store.stream_seq("demo/y") == 4 * (round_ + 1)
    assert verify_store(store.home).ok


def test_a_refused_call_leaves_no_trace_for_the_appends_committed_with_it(store, events):
    """Refused calls whose first part was fine, in the same commits as appends at the end of that stream.

    Had the refused call's first part stayed decided, the next append in its commit would take the
    seq after it and leave a gap in ``demo/shared``.
    """
    observation = events.observation(0, words=4).data

    def refuse() -> None:
        for _ in range(300):
            with contextlib.suppress(ConflictError):
                store.append_many([("demo/shared", [observation], None), ("demo/other", [observation], 99)])

    def append() -> None:
        for _ in range(150):
            store.append("demo/shared", [observation], None)

    threads = [threading.Thread(target=work) for work in (refuse, refuse, append, append, append, append)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.read(stream="demo/shared", columns=["seq"])["seq"].to_pylist() == list(range(600))
    assert store.stream_seq("demo/other") == 0
    assert verify_store(store.home).ok


def test_bad_input_is_refused_before_anything_is_decided(store, events):
    demo = events.demo("a", steps=1)
    with pytest.raises(InvalidEventError, match="at least one"):
        store.append_many([])
    with pytest.raises(IdempotencyError, match="repeats an event_id"):
        store.append_many([("demo/a", demo, 0), ("demo/b", demo[:1], 0)])
    with pytest.raises(InvalidEventError, match="at least one event"):
        store.append_many([("demo/a", demo, 0), ("demo/b", [], 0)])
    assert store.next_position == 0
