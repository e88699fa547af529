"""Bad input and damaged files: one clear line of error, and nothing acknowledged rewritten or lost."""

from __future__ import annotations

import contextlib
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from traj.errors import CorruptSegmentError, CorruptWALError, InvalidEventError, StoreError
from traj.eventlog import Action, NewEvent, Observation, Segment, Store, verify_store

# ---------------------------------------------------------------- payloads, types, names, ids


@pytest.fixture
def populated(store, events, tree_bytes):
    """A writable store holding a sealed demo and a WAL tail, and the bytes of its files."""
    store.append("demo/d1", events.demo("d1", steps=2), expected_seq=0)
    store.seal()
    store.append("demo/d2", events.demo("d2", steps=1), expected_seq=0)
    return store, store.read(), tree_bytes(store.home)


def assert_untouched(populated, tree_bytes):
    """The refused append changed no file, and the store still takes good appends."""
    store, table, files = populated
    assert tree_bytes(store.home) == files
    assert store.read().equals(table)
    result = store.append("demo/d3", [Observation(url="https://ok.test")], expected_seq=0)
    assert result.first_position == table.num_rows


BAD_PAYLOADS = {
    "unknown enum value": (lambda ev: [NewEvent(data=Action(kind="JUMP"))], ["action", "JUMP", "kind"]),
    "wrong field type": (lambda ev: [NewEvent(data=Observation(url=42))], ["observation", "str", "url"]),
    "wrong nested shape": (
        lambda ev: [NewEvent(data=Action(kind="CLICK", locators=[("by_magic", "x")]))],
        ["action", "by_magic", "locators"],
    ),
    "not a payload at all": (lambda ev: [{"kind": "CLICK"}], ["registered Payload type", "dict"]),
    "event id that is not a UUID": (
        lambda ev: [NewEvent(data=Action(kind="CLICK"), event_id="step-1")],
        ["'step-1'", "not a UUID"],
    ),
    "blob reference that is not a sha256": (
        lambda ev: [NewEvent(data=Observation(url="https://a.test"), blobs=("screenshot.png",))],
        ["'screenshot.png'", "sha256"],
    ),
    "one bad event among good ones": (
        lambda ev: [ev.observation(0), ev.action(0), NewEvent(data=Action(kind="JUMP"))],
        ["JUMP"],
    ),
}


@pytest.mark.parametrize("case", BAD_PAYLOADS)
def test_a_payload_of_the_wrong_shape_is_refused_with_one_line_and_changes_nothing(
    case, populated, events, tree_bytes, one_line
):
    store, _, _ = populated
    build, expected = BAD_PAYLOADS[case]

    with pytest.raises(InvalidEventError) as caught:
        store.append("demo/d3", build(events), expected_seq=0)

    message = one_line(caught.value)
    for fragment in expected:
        assert fragment in message
    assert_untouched(populated, tree_bytes)


PARSE_ERRORS = {
    "missing required field": (("observation", {"title": "Sign in"}), ["observation", "missing required field", "url"]),
    "unknown field": (("action", {"kind": "CLICK", "colour": "red"}), ["action", "unknown field", "colour"]),
    "unknown event type": (("nope", {"kind": "CLICK"}), ["unknown event type 'nope'", "known types", "action"]),
    "missing nested field": (
        ("observation", {"url": "https://a.test", "elements": [{"agent_id": "e1", "tag": "a", "bbox": {"x": 1}}]}),
        ["observation", "missing required field", "bbox"],
    ),
    "text that is not JSON": (("action", '{"kind": "CLICK"'), ["action", "not valid JSON"]),
}


@pytest.mark.parametrize("case", PARSE_ERRORS)
def test_parsing_untyped_input_of_the_wrong_shape_is_a_one_line_invalid_event_error(case, one_line):
    (event_type, data), expected = PARSE_ERRORS[case]

    with pytest.raises(InvalidEventError) as caught:
        NewEvent.parse(event_type, data)

    message = one_line(caught.value)
    for fragment in expected:
        assert fragment in message


def test_parsing_an_unknown_payload_version_names_the_version(one_line):
    with pytest.raises(InvalidEventError) as caught:
        NewEvent.parse("action", {"kind": "CLICK"}, v=9)
    assert "unknown event type 'action' v9" in one_line(caught.value)


def test_parsed_events_append_like_typed_ones(store):
    event = NewEvent.parse("action", '{"kind": "TYPE", "target": "e2", "value": "mug"}')

    store.append("demo/d1", [event], expected_seq=0)

    assert store.events()[0].data == Action(kind="TYPE", target="e2", value="mug")


@pytest.mark.parametrize(
    "stream",
    ["", "/demo", "demo/", "demo//d1", "demo/d 1", "demo/d1\n", "demo\\d1", "démo/d1", "demo/" + "x" * 600, None],
)
def test_an_invalid_stream_name_is_refused_with_one_line_and_changes_nothing(
    stream, populated, events, tree_bytes, one_line
):
    store, _, _ = populated

    with pytest.raises(InvalidEventError) as caught:
        store.append(stream, [events.observation(0)], expected_seq=0)

    message = one_line(caught.value)
    assert "invalid stream name" in message
    assert "demo/" in message, "the message shows what a valid name looks like"
    assert_untouched(populated, tree_bytes)


# ---------------------------------------------------------------- damaged segments


@dataclass
class DamagedStore:
    home: Path
    victim: Segment
    """The damaged segment (the middle one of three)."""
    segments: tuple[Segment, ...]
    ids: list[str]
    """Every acknowledged event id, in position order."""
    files_before: dict[str, bytes]
    """Bytes of every file except the victim, right after the damage."""


def _flip(path: Path, offset: int, count: int = 16) -> None:
    data = bytearray(path.read_bytes())
    for k in range(offset, offset + count):
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))


def _damage(path: Path, how: str) -> None:
    size = path.stat().st_size
    if how == "bytes flipped in the middle":
        _flip(path, size // 2)
    elif how == "page header flipped":
        row_group = pq.read_metadata(path).row_group(0)
        data = next(
            row_group.column(c) for c in range(row_group.num_columns) if row_group.column(c).path_in_schema == "data"
        )
        _flip(path, data.dictionary_page_offset or data.data_page_offset, count=4)
    elif how == "tail cut off":
        with open(path, "r+b") as f:
            f.truncate(size * 2 // 3)
    elif how == "file deleted":
        path.unlink()
    else:
        raise AssertionError(how)


@pytest.fixture(params=["bytes flipped in the middle", "page header flipped", "tail cut off", "file deleted"])
def damaged(request, home, events, tree_bytes) -> DamagedStore:
    """Three sealed segments of 40 events each plus a WAL tail; the middle segment is then damaged."""
    with Store.open(home) as store:
        for s in range(3):
            for d in range(5):
                store.append(f"demo/s{s}d{d}", events.demo(f"s{s}d{d}", steps=3, words=120), expected_seq=0)
            store.seal()
        store.append("run/r1", [events.observation(0), events.action(0)], expected_seq=0)
        ids = store.read()["event_id"].to_pylist()
        segments = store.manifest.segments
    assert [s.rows for s in segments] == [40, 40, 40]
    victim = segments[1]
    _damage(home / "segments" / victim.file, request.param)
    files = tree_bytes(home)
    files.pop(f"segments/{victim.file}", None)
    return DamagedStore(home, victim, segments, ids, files)


def _files_except_victim(damaged: DamagedStore, tree_bytes) -> dict[str, bytes]:
    files = tree_bytes(damaged.home)
    files.pop(f"segments/{damaged.victim.file}", None)
    return files


def test_a_store_with_a_damaged_segment_opens_and_names_it(damaged, one_line):
    with Store.open(damaged.home) as store:
        assert set(store.damaged) == {damaged.victim.file}
        problem = store.damaged[damaged.victim.file]
        assert damaged.victim.file in problem
        assert "\n" not in problem, f"problem spans several lines: {problem!r}"
        assert store.next_position == len(damaged.ids), "every position is still accounted for"


def test_a_read_only_open_names_the_damaged_segment_too(damaged):
    reader = Store.open(damaged.home, readonly=True)
    assert set(reader.damaged) == {damaged.victim.file}
    assert set(reader.snapshot().damaged) == {damaged.victim.file}


def test_reads_over_the_healthy_segments_still_work_beside_a_damaged_one(damaged):
    first, victim, last = damaged.segments
    with Store.open(damaged.home) as store:
        before = store.read(to_position=victim.first_position)
        after = store.read(from_position=victim.last_position + 1)
        tail = store.events(from_position=last.last_position + 1)

    assert before["event_id"].to_pylist() == damaged.ids[: victim.first_position]
    assert after["event_id"].to_pylist() == damaged.ids[victim.last_position + 1 :]
    assert [e.stream for e in tail] == ["run/r1", "run/r1"]
    assert first.last_position + 1 == victim.first_position


def test_reading_over_a_damaged_segment_is_a_one_line_corrupt_segment_error(damaged, one_line):
    with Store.open(damaged.home) as store, pytest.raises(CorruptSegmentError) as caught:
        store.read()

    message = one_line(caught.value)
    assert damaged.victim.file in message


def test_appends_are_refused_while_a_segment_is_damaged(damaged, events, tree_bytes, one_line):
    with Store.open(damaged.home) as store:
        with pytest.raises(CorruptSegmentError) as caught:
            store.append("run/r1", [events.observation(1)], expected_seq=2)
        message = one_line(caught.value)
        assert "damaged" in message
        assert store.next_position == len(damaged.ids)
    assert _files_except_victim(damaged, tree_bytes) == damaged.files_before


def test_compaction_is_refused_while_a_segment_is_damaged(damaged):
    with Store.open(damaged.home) as store:
        with pytest.raises(CorruptSegmentError):
            store.compact()
        assert [s.file for s in store.manifest.segments[:3]] == [s.file for s in damaged.segments]
    for segment in (damaged.segments[0], damaged.segments[2]):
        data = (damaged.home / "segments" / segment.file).read_bytes()
        assert data == damaged.files_before[f"segments/{segment.file}"]


def test_verify_reports_the_damaged_segment(damaged):
    report = verify_store(damaged.home)

    assert not report.ok
    assert any(damaged.victim.file in problem for problem in report.problems)
    assert report.segments == 3


def test_no_other_file_changes_while_a_segment_is_damaged(damaged, events, tree_bytes):
    verify_store(damaged.home)
    Store.open(damaged.home, readonly=True).snapshot()
    with Store.open(damaged.home) as store:
        store.read(from_position=damaged.victim.last_position + 1)
        for attempt in (
            lambda: store.append("run/r1", [events.observation(1)], expected_seq=2),
            store.read,
        ):
            with contextlib.suppress(CorruptSegmentError):
                attempt()

    files = _files_except_victim(damaged, tree_bytes)
    assert {name: data for name, data in files.items() if name in damaged.files_before} == damaged.files_before
    assert set(damaged.files_before) <= set(files), "no acknowledged file may disappear"


def test_an_unreadable_manifest_refuses_to_open_with_one_line_and_is_left_alone(store, events, one_line):
    store.append("demo/d1", events.demo("d1"), expected_seq=0)
    store.seal()
    store.close()
    manifest = store.home / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:40])

    with pytest.raises(CorruptSegmentError) as caught:
        Store.open(store.home)

    assert "manifest" in one_line(caught.value)
    assert len(manifest.read_bytes()) == 40
    assert len(list((store.home / "segments").glob("*.parquet"))) == 1, "segments are not debris of a bad manifest"


# ---------------------------------------------------------------- damaged write-ahead log


def _only_wal(home: Path) -> Path:
    (wal,) = sorted((home / "wal").glob("*.arrow"))
    return wal


def test_a_damaged_wal_header_refuses_to_open_and_keeps_the_file(home, events, tree_bytes, one_line):
    with Store.open(home) as store:
        store.append("demo/d1", events.demo("d1"), expected_seq=0)
        store.seal()
        store.append("demo/d2", events.demo("d2"), expected_seq=0)
        store.append("demo/d2", [events.observation(9)], expected_seq=6)
    wal = _only_wal(home)
    data = bytearray(wal.read_bytes())
    data[:8] = b"GARBAGE!"
    wal.write_bytes(bytes(data))
    files = tree_bytes(home)

    with pytest.raises(CorruptWALError) as caught:
        Store.open(home)
    message = one_line(caught.value)
    assert wal.name in message
    with pytest.raises(CorruptWALError):
        Store.open(home)  # the lock was released: the same error again, not StoreLockedError
    with pytest.raises(CorruptWALError):
        Store.open(home, readonly=True)

    assert tree_bytes(home) == files, "the WAL file must be neither truncated nor deleted"
    report = verify_store(home)
    assert not report.ok
    assert any(wal.name in p for p in report.problems)


def test_a_damaged_batch_before_intact_acknowledged_batches_is_not_truncated_away(home, events, tree_bytes):
    # Only the last batch can be torn by a crash; valid batches after a bad one prove the bad
    # one was acknowledged and damaged later (bit rot), so cutting the file there loses events.
    batches = [[events.observation(k, words=20)] for k in range(3)]
    with Store.open(home) as store:
        for k, batch in enumerate(batches):
            store.append("demo/d1", batch, expected_seq=k)
    wal = _only_wal(home)
    wal.write_bytes(_flip_in(wal.read_bytes(), b"page/0"))
    files = tree_bytes(home)

    try:
        store = Store.open(home)
    except CorruptWALError:
        assert tree_bytes(home) == files, "a refused open must leave the WAL file as it was"
        return
    with store:
        kept = store.read()["event_id"].to_pylist()
    assert batches[2][0].event_id in kept, f"acknowledged events after the damaged batch were dropped: {store.recovery}"


EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def _flip_in(data: bytes, needle: bytes) -> bytes:
    at = data.index(needle)
    return data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1 :]


TORN_TAILS = {
    # name: (bytes of the WAL file after the crash, whether the last append survives)
    "half of the last batch": (
        lambda acked, with_b: acked + with_b[len(acked) : (len(acked) + len(with_b)) // 2],
        False,
    ),
    "garbage after the last batch": (lambda acked, with_b: acked + random.Random(7).randbytes(777), False),
    "last batch fails its checksum": (
        lambda acked, with_b: acked + _flip_in(with_b[len(acked) :], b"page/77"),
        False,
    ),
    "garbage after a clean close": (lambda acked, with_b: with_b + EOS + b"\x00junk" * 50, True),
}


@pytest.mark.parametrize("case", TORN_TAILS)
def test_a_torn_wal_tail_is_dropped_on_reopen_and_every_acknowledged_event_is_kept(case, home, events):
    build, last_survives = TORN_TAILS[case]
    acked_batches = [events.demo("d1", steps=2), [events.observation(5), events.action(5)]]
    unacked = [events.observation(77)]
    with Store.open(home) as store:
        store.append("demo/d0", events.demo("d0", steps=1), expected_seq=0)
        store.seal()
        store.append("demo/d1", acked_batches[0], expected_seq=0)
        store.append("demo/d1", acked_batches[1], expected_seq=6)
        wal = _only_wal(home)
        acked = wal.read_bytes()
        store.append("demo/d1", unacked, expected_seq=8)
        with_b = wal.read_bytes()
    wal.write_bytes(build(acked, with_b))
    expected = [e.event_id for batch in acked_batches for e in batch] + ([unacked[0].event_id] if last_survives else [])

    before = verify_store(home)
    assert before.ok, before.problems
    assert any(wal.name in note for note in before.notes)
    with Store.open(home) as store:
        assert store.read(stream="demo/d1")["event_id"].to_pylist() == expected
        assert store.read(stream="demo/d0").num_rows == 4
        assert len(store.recovery) == 1
        assert wal.name in store.recovery[0]
        assert "dropped" in store.recovery[0]
        assert wal.stat().st_size == (len(with_b) if last_survives else len(acked))
        if not last_survives:  # never acknowledged, so appending it again is a first append
            result = store.append("demo/d1", unacked, expected_seq=8)
            assert (result.duplicate, result.first_seq, result.first_position) == (False, 8, 12)
    after = verify_store(home)
    assert after.ok and after.notes == [], after


def test_a_read_only_open_reads_past_a_torn_tail_without_repairing_it(home, events, tree_bytes):
    batch = events.demo("d1", steps=1)
    with Store.open(home) as store:
        store.append("demo/d1", batch, expected_seq=0)
        wal = _only_wal(home)
        acked = wal.read_bytes()
    wal.write_bytes(acked + b"\x01torn" * 30)
    files = tree_bytes(home)

    reader = Store.open(home, readonly=True)

    assert reader.read()["event_id"].to_pylist() == [e.event_id for e in batch]
    assert tree_bytes(home) == files


# ---------------------------------------------------------------- debris of interrupted seals and merges


def _store_with_wal_tail(home: Path, events) -> list[str]:
    """A sealed segment and two WAL files (two writer sessions); returns the event ids."""
    with Store.open(home) as store:
        store.append("demo/d1", events.demo("d1"), expected_seq=0)
        store.seal()
        store.append("demo/d2", events.demo("d2"), expected_seq=0)
    with Store.open(home) as store:
        store.append("demo/d2", [events.observation(3)], expected_seq=6)
        return store.read()["event_id"].to_pylist()


def _copy_state(home: Path, keep: Path) -> None:
    shutil.copytree(home / "wal", keep / "wal")
    shutil.copy2(home / "manifest.json", keep / "manifest.json")
    shutil.copytree(home / "segments", keep / "segments")


def test_a_segment_missing_from_the_manifest_is_removed_on_open_without_duplicates(home, tmp_path, events):
    ids = _store_with_wal_tail(home, events)
    keep = tmp_path / "before-seal"
    _copy_state(home, keep)
    with Store.open(home) as store:
        debris = store.seal()
    # The crash came after the segment's rename and before the manifest named it.
    shutil.copy2(keep / "manifest.json", home / "manifest.json")
    for wal in (keep / "wal").iterdir():
        shutil.copy2(wal, home / "wal" / wal.name)
    assert debris is not None
    assert (home / "segments" / debris.file).exists()

    with Store.open(home) as store:
        assert not (home / "segments" / debris.file).exists()
        assert any(debris.file in line and "not in the manifest" in line for line in store.recovery)
        assert store.read()["event_id"].to_pylist() == ids
        assert store.seal() is not None, "sealing again after the crash is harmless"
        assert store.read()["event_id"].to_pylist() == ids
    assert verify_store(home).ok


def test_a_wal_file_already_sealed_is_dropped_on_open_without_duplicates(home, tmp_path, events):
    ids = _store_with_wal_tail(home, events)
    keep = tmp_path / "before-seal"
    _copy_state(home, keep)
    with Store.open(home) as store:
        store.seal()
    # The crash came after the manifest named the segment and before the WAL files were unlinked.
    restored = []
    for wal in (keep / "wal").iterdir():
        shutil.copy2(wal, home / "wal" / wal.name)
        restored.append(wal.name)
    assert len(restored) == 2
    assert verify_store(home).ok, "verify ignores WAL events that are already sealed"

    with Store.open(home) as store:
        assert list((home / "wal").iterdir()) == []
        assert sum("already sealed" in line for line in store.recovery) == 2
        assert store.read()["event_id"].to_pylist() == ids
        result = store.append("demo/d2", [events.action(3)], expected_seq=7)
        assert result.first_position == len(ids)
    assert verify_store(home).ok


def test_an_interrupted_compaction_leaves_the_old_segments_in_charge(home, tmp_path, events):
    with Store.open(home) as store:
        for d in range(3):
            store.append(f"demo/d{d}", events.demo(f"d{d}"), expected_seq=0)
            store.seal()
        ids = store.read()["event_id"].to_pylist()
    keep = tmp_path / "before-compact"
    _copy_state(home, keep)
    with Store.open(home) as store:
        (merged,) = store.compact()
    # The crash came after the merged file's rename and before the manifest switched to it.
    shutil.copy2(keep / "manifest.json", home / "manifest.json")
    for segment in (keep / "segments").iterdir():
        shutil.copy2(segment, home / "segments" / segment.name)

    with Store.open(home) as store:
        assert not (home / "segments" / merged.file).exists()
        assert len(store.manifest.segments) == 3
        assert store.read()["event_id"].to_pylist() == ids
    assert verify_store(home).ok


def test_leftover_temp_files_and_empty_wal_files_are_cleaned_up_on_open(store, events):
    store.append("demo/d1", events.demo("d1"), expected_seq=0)
    store.seal()
    store.append("demo/d1", [events.observation(2)], expected_seq=6)
    store.close()
    home = store.home
    (home / "segments" / ".00000000000000000007-00000000000000000009.parquet.tmp").write_bytes(b"PAR1 half")
    (home / ".manifest.json.tmp").write_bytes(b'{"format": 1, "seg')
    (home / "wal" / "00000000000000000007.arrow").write_bytes(b"")  # created, crashed before the header

    with Store.open(home) as reopened:
        assert reopened.read().num_rows == 7
        assert not list(home.glob(".*.tmp"))
        assert not list((home / "segments").glob(".*.tmp"))
        assert [p.name for p in (home / "wal").iterdir()] == ["00000000000000000006.arrow"]
        assert reopened.append("demo/d1", [events.action(2)], expected_seq=7).first_position == 7


def test_a_wal_file_starting_past_the_end_of_the_log_is_refused_as_missing_events(store, events, one_line):
    store.append("demo/d1", [events.observation(0)], expected_seq=0)
    store.close()
    wal = _only_wal(store.home)
    wal.rename(wal.with_name("00000000000000000005.arrow"))

    with pytest.raises(StoreError) as caught:
        Store.open(store.home)

    assert "missing" in one_line(caught.value)
    assert (store.home / "wal" / "00000000000000000005.arrow").exists()
