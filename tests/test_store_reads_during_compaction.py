"""Store reads beside a compaction: a merged-away segment deleted under a read is not an error.

``compact`` lists the merged segment in the manifest, then deletes the segments it replaces. A
``Store.read`` (``events``, a read-only ``stream_seq``, ``store_stats``) that took its snapshot
just before still names those files when pyarrow opens them. It must give the whole log all the
same (segments are immutable, the newer manifest holds the same rows), never a raw
``FileNotFoundError`` or a merged-away segment reported missing: in the compacting process's
own threads and in a read-only Store of another process.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import compacting_writer
from traj.errors import CorruptSegmentError
from traj.eventlog import Store, store_stats
from traj.sample import write_sample_demos

WRITER = Path(__file__).with_name("compacting_writer.py")
SECONDS = 2.0


def assert_whole(store: Store) -> int:
    """One read of the whole log: every position once, in order; returns how many events."""
    positions = store.read(columns=["position"])["position"].to_pylist()
    assert positions == list(range(len(positions)))
    return len(positions)


def read_until(stop: threading.Event, read: Callable[[], object], errors: list[BaseException]) -> int:
    """Call ``read`` until ``stop`` is set or it raises (kept in ``errors``); returns the calls made."""
    calls = 0
    while not stop.is_set():
        try:
            read()
        except Exception as exc:  # the assertion below names each one
            errors.append(exc)
            return calls
        calls += 1
    return calls


def test_threads_reading_while_another_compacts_read_the_whole_log(store):
    """Every round appends a demo, seals it and merges every segment into one, deleting the others."""
    write_sample_demos(store, 4, steps=2, page_bytes=200)
    store.seal()
    stop = threading.Event()
    errors: list[BaseException] = []
    compactions = 0

    def compact() -> None:
        nonlocal compactions
        while not stop.is_set():
            write_sample_demos(store, 1, steps=2, page_bytes=200, seed=compactions)
            store.seal()
            if store.compact():
                compactions += 1

    reads = [
        lambda: assert_whole(store),
        lambda: store.events(types=["demo.started"]),
        lambda: store_stats(store),
    ]
    threads = [threading.Thread(target=compact)] + [
        threading.Thread(target=read_until, args=(stop, read, errors)) for read in reads
    ]
    for thread in threads:
        thread.start()
    time.sleep(SECONDS)
    stop.set()
    for thread in threads:
        thread.join()
    assert [f"{type(e).__name__}: {e}" for e in errors] == []
    assert compactions >= 3, "the compactor should have merged segments away under the reads"
    assert assert_whole(store) == store.next_position


@pytest.fixture
def compacting(home: Path) -> Iterator[subprocess.Popen[str]]:
    """A writer process over ``home`` sealing continuously and merging segments away 20 times a second."""
    with compacting_writer(home, 0.05) as writer:
        yield writer


def test_a_read_only_store_reads_the_whole_log_beside_a_compacting_writer_process(home, compacting):
    errors: list[BaseException] = []
    stop = threading.Event()
    with Store.open(home, readonly=True) as reader:

        def read() -> None:
            assert_whole(reader)
            reader.stream_seq("demo/none")
            store_stats(reader)

        timer = threading.Timer(SECONDS, stop.set)
        timer.start()
        reads = read_until(stop, read, errors)
        timer.cancel()
    compacting.kill()
    out, err = compacting.communicate()
    assert "Traceback" not in err, err
    assert [f"{type(e).__name__}: {e}" for e in errors] == []
    assert reads > 0 and out.split().count("compacted") >= 3


def test_a_segment_deleted_by_hand_is_a_one_line_corrupt_segment_error_at_once(store, one_line):
    """Under an unchanged manifest a missing segment is damage: reported, not read again and again."""
    write_sample_demos(store, 1, steps=2, page_bytes=200)
    segment = store.seal()
    assert segment is not None
    (store.home / "segments" / segment.file).unlink()
    with pytest.raises(CorruptSegmentError) as raised:
        store.read()
    assert segment.file in one_line(raised.value) and "missing" in str(raised.value)
