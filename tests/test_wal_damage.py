"""Every byte of an acknowledged WAL batch is checked before it is parsed: damage is refused or harmless.

A sweep flips single bytes of a small WAL file (every byte of the framing and metadata, every
16th byte of the bodies) and reads each damaged file in a worker process, so that an abort
inside Arrow fails the test instead of killing pytest.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from traj.errors import CorruptWALError
from traj.eventlog import EVENT_SCHEMA, Store, verify_store
from traj.eventlog._wal import read_wal

WORKER = Path(__file__).with_name("wal_damage_worker.py")
BATCHES = 6
EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"
BODY_STRIDE = 16


@pytest.fixture
def fast_home() -> Iterator[Path]:
    """Where a swept store lives: in memory (tmpfs) where there is one; a sweep opens its files thousands of times."""
    memory = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=memory if memory.is_dir() else None) as directory:
        yield Path(directory) / "store"


def build_wal(home: Path, events, *, closed: bool) -> Path:
    """A store whose one WAL file holds six one-event batches; ``closed=False``: as a crash leaves it."""
    with Store.open(home) as store:
        for k in range(BATCHES):
            store.append("demo/d1", [events.action(k)], expected_seq=k)
    (wal,) = sorted((home / "wal").glob("*.arrow"))
    data = wal.read_bytes()
    assert data.endswith(EOS)
    if not closed:  # a killed writer never writes the end-of-stream marker
        wal.write_bytes(data[: -len(EOS)])
    return wal


def frames(data: bytes) -> list[tuple[int, int, int]]:
    """(start, body start, end) of each message of the IPC stream ``data``, the schema first."""
    source = pa.BufferReader(data)
    found = []
    while source.tell() < len(data) and data[source.tell() : source.tell() + 8] != EOS:
        start = source.tell()
        message = pa.ipc.read_message(source)
        found.append((start, source.tell() - message.body.size, source.tell()))
    return found


def swept_offsets(data: bytes) -> list[int]:
    """Every byte outside the batch bodies (header, framing, metadata, end marker), every 16th inside."""
    offsets = []
    bodies = {start: end for _, start, end in frames(data)[1:]}
    at = 0
    while at < len(data):
        if at in bodies:
            offsets.extend(range(at, bodies[at], BODY_STRIDE))
            at = bodies[at]
        else:
            offsets.append(at)
            at += 1
    return offsets


def sweep(wal: Path, flips: list[tuple[int, int]], scratch: Path) -> list[dict]:
    """Each flip's outcomes (see the worker); a flip that kills the worker is recorded as an abort."""
    original = scratch / wal.name
    original.write_bytes(wal.read_bytes())
    todo = scratch / "flips.json"
    results: list[dict] = []
    while len(results) < len(flips):
        todo.write_text(json.dumps(flips[len(results) :]))
        worker = subprocess.run(
            [sys.executable, str(WORKER), str(wal.parent.parent), str(original), str(todo)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        done = [json.loads(line) for line in worker.stdout.splitlines() if line.startswith('{"flip"')]
        results += done
        if worker.returncode != 0:
            begun = worker.stdout.count('{"begin"')
            assert begun == len(done) + 1, f"the worker failed outside a flip: {worker.stderr[-2000:]}"
            signal = -worker.returncode if worker.returncode < 0 else 128 - worker.returncode
            results.append({"read": f"abort {signal}", "open": f"abort {signal}", "why": worker.stderr[-300:]})
    for result, (offset, xor) in zip(results, flips, strict=True):
        result["offset"], result["xor"] = offset, xor
    return results


def tally(results: list[dict]) -> dict[str, Counter]:
    return {side: Counter(r[side] for r in results) for side in ("read", "open")}


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "live"])
def test_a_flipped_byte_anywhere_in_a_wal_file_is_refused_or_harmless(closed, fast_home, events):
    wal = build_wal(fast_home, events, closed=closed)
    data = wal.read_bytes()
    last_frame = frames(data)[-1]
    flips = [(offset, 0xFF) for offset in swept_offsets(data)]

    results = sweep(wal, flips, fast_home.parent)

    def acceptable(result: dict) -> bool:
        # A crash tears only the end of the file being written: the last frame of a live file.
        torn = not closed and result["offset"] >= last_frame[0]
        return {result["read"], result["open"]} <= {"intact", "refused"} | ({"torn"} if torn else set())

    bad = [r for r in results if not acceptable(r)]
    assert not bad, f"{len(bad)} of {len(results)} flips: {tally(bad)}; e.g. {bad[:3]}"
    refused = [r for r in results if r["read"] == "refused"]
    assert refused, "the sweep refused nothing"
    unclear = [r for r in refused if not r["why"].startswith("CorruptWALError: ") or wal.name not in r["why"]]
    assert not unclear, f"refusals that do not name the file: {unclear[:3]}"
    assert all(" byte " in r["why"] and "\n" not in r["why"] for r in refused), refused[:3]


def test_traj_verify_reports_a_damaged_wal_in_one_problem_without_a_traceback(fast_home, events):
    # A sample of the sweep's flips through the command line: an abort would show as exit 134.
    wal = build_wal(fast_home, events, closed=True)
    data = wal.read_bytes()
    batches = frames(data)[1:]
    offsets = [
        batches[0][0] + 5,  # a metadata length
        batches[1][0] + 100,  # the flatbuffer (buffer offsets and lengths)
        data.index(b"traj2:", batches[2][0]) + 8,  # the seal's CRC digits
        batches[5][0] + 6,  # the last frame of a closed file
    ]
    homes = []
    for k, offset in enumerate(offsets):
        copy = fast_home.parent / f"copy{k}"
        shutil.copytree(fast_home, copy)
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        (copy / "wal" / wal.name).write_bytes(damaged)
        homes.append(copy)

    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "traj", "verify", "--home", str(copy)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for copy in homes
    ]
    outputs = [(run.communicate(timeout=120)[0], run.returncode) for run in runs]

    for offset, (output, status) in zip(offsets, outputs, strict=True):
        assert status == 1, f"flip at byte {offset}: exit {status}: {output}"
        assert "Traceback" not in output, output
        assert output.count("problem:") == 1 and wal.name in output.replace("\n", ""), output


def test_damage_in_the_last_batch_of_a_closed_wal_file_is_refused_not_truncated(home, events, tree_bytes, one_line):
    wal = build_wal(home, events, closed=True)
    data = bytearray(wal.read_bytes())
    last = frames(bytes(data))[-1]
    data[last[0] + 4] ^= 0x01  # its metadata length
    wal.write_bytes(data)
    files = tree_bytes(home)

    with pytest.raises(CorruptWALError) as caught:
        Store.open(home)

    message = one_line(caught.value)
    assert wal.name in message and f"at byte {last[0]}" in message and "closed" in message
    assert tree_bytes(home) == files
    report = verify_store(home)
    assert not report.ok and wal.name in report.problems[0]


def test_a_torn_last_batch_of_an_older_wal_file_is_refused_as_damage(home, events, tree_bytes):
    # The writer starts a new WAL file only after closing the last one (or recovering it on
    # open), so an older file's tail was final: a bad frame there lost acknowledged events.
    build_wal(home, events, closed=True)
    with Store.open(home) as store:
        store.append("demo/d2", [events.action(0)], expected_seq=0)
    older, _ = sorted((home / "wal").glob("*.arrow"))
    data = older.read_bytes()
    older.write_bytes(data[: -len(EOS) - 20])  # no end-of-stream marker, the last frame cut short
    files = tree_bytes(home)

    with pytest.raises(CorruptWALError, match="newer WAL file"):
        Store.open(home)

    assert tree_bytes(home) == files


def test_a_torn_last_batch_of_the_newest_live_wal_file_is_dropped(home, events):
    wal = build_wal(home, events, closed=False)
    data = wal.read_bytes()
    last = frames(data)[-1]
    wal.write_bytes(data[: last[1]] + bytes(last[2] - last[1]))  # the body never reached the disk

    with Store.open(home) as store:
        assert store.read().num_rows == BATCHES - 1
        assert "checksum mismatch" in store.recovery[0]
    assert wal.stat().st_size == last[0]


def test_a_wal_file_stays_a_plain_arrow_ipc_stream(home, events):
    wal = build_wal(home, events, closed=True)

    with pa.ipc.open_stream(wal) as reader:
        table = reader.read_all()

    assert table.equals(pa.Table.from_batches(read_wal(wal).batches))
    assert table.schema.metadata == {b"traj.wal": b"2"}  # the format version


def test_a_wal_file_in_the_previous_format_still_reads_appends_and_seals(home, events):
    wal = build_wal(home, events, closed=True)
    batches = read_wal(wal).batches
    wal.write_bytes(previous_format(batches))

    assert pa.Table.from_batches(read_wal(wal).batches).equals(pa.Table.from_batches(batches))
    with Store.open(home) as store:
        assert store.read().num_rows == BATCHES
        store.append("demo/d1", [events.action(BATCHES)], expected_seq=BATCHES)
        store.seal()
        assert store.read()["seq"].to_pylist() == list(range(BATCHES + 1))
    assert verify_store(home).ok


def previous_format(batches: list[pa.RecordBatch]) -> bytes:
    """A WAL file as version 1 wrote it: plain schema, a CRC32 of each body alone under ``traj.crc32``."""
    sink = pa.BufferOutputStream()
    writer = pa.ipc.new_stream(sink, EVENT_SCHEMA)
    for batch in batches:
        message = memoryview(batch.serialize())
        body = 8 + int.from_bytes(message[4:8], "little")
        writer.write_batch(batch, custom_metadata={b"traj.crc32": b"%010d" % zlib.crc32(message[body:])})
    writer.close()
    return sink.getvalue().to_pybytes()
