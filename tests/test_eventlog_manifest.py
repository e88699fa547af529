"""The manifest and the files around it: what an open may delete, what it must refuse, how a lost manifest comes back.

Only a file that is provably debris of an interrupted seal or merge may be removed (a seal's
temp file, or a segment whose rows the log still holds at the same positions with the same
event ids). Anything else in ``segments/`` the manifest does not list is refused, named and
left in place, by writers, readers and ``traj verify`` alike; ``traj verify --repair``
rebuilds the manifest from the segments themselves.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from traj.cli import app
from traj.errors import StoreError, TrajError
from traj.eventlog import Store, repair_manifest, verify_store

runner = CliRunner()


def cli(*args: object) -> Result:
    """``traj ARGS`` in process; an exception other than a clean exit fails the test (a user's traceback)."""
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        pytest.fail(f"traj {' '.join(map(str, args))} raised {type(result.exception).__name__}: {result.exception}")
    return result


@dataclass
class Sealed:
    """A store of three sealed segments (no WAL), its event ids, and the manifest after the second seal."""

    home: Path
    ids: list[str]
    segments: list[str]
    manifest_after_two: bytes


@pytest.fixture
def sealed(home, events) -> Sealed:
    manifests = []
    with Store.open(home) as store:
        for d in range(3):
            store.append(f"demo/d{d}", events.demo(f"d{d}", steps=1), expected_seq=0)
            store.seal()
            manifests.append((home / "manifest.json").read_bytes())
        ids = store.read()["event_id"].to_pylist()
        files = [s.file for s in store.manifest.segments]
    return Sealed(home, ids, files, manifests[1])


def delete_manifest(s: Sealed) -> list[str]:
    (s.home / "manifest.json").unlink()
    return s.segments


def stale_manifest(s: Sealed) -> list[str]:
    (s.home / "manifest.json").write_bytes(s.manifest_after_two)
    return s.segments[2:]


def rename_a_segment(s: Sealed) -> list[str]:
    old = s.home / "segments" / s.segments[1]
    new = old.with_name("1" + old.name[1:])  # one character changed
    old.rename(new)
    return [new.name]


def user_notes(s: Sealed) -> list[str]:
    (s.home / "segments" / "notes.txt").write_text("my notes about this store\n")
    return ["notes.txt"]


UNLISTED: dict[str, Callable[[Sealed], list[str]]] = {
    "manifest deleted": delete_manifest,
    "stale manifest listing fewer segments": stale_manifest,
    "one character changed in a segment's name": rename_a_segment,
    "a user's notes.txt in segments/": user_notes,
}


# ---------------------------------------------------------------- refusing what is not debris


@pytest.mark.parametrize("damage", UNLISTED.values(), ids=UNLISTED.keys())
def test_writable_open_refuses_and_keeps_a_file_the_manifest_does_not_list(sealed, damage, tree_bytes, one_line):
    named = damage(sealed)
    before = tree_bytes(sealed.home)

    with pytest.raises(StoreError) as caught:
        Store.open(sealed.home)

    message = one_line(caught.value)
    assert all(name in message for name in named), message
    assert "traj verify --repair" in message
    assert tree_bytes(sealed.home) == before, "a refused open changed files"


@pytest.mark.parametrize("damage", UNLISTED.values(), ids=UNLISTED.keys())
def test_readers_and_verify_report_an_unlisted_file_as_a_problem(sealed, damage, one_line):
    named = damage(sealed)

    with pytest.raises(StoreError) as caught:
        Store.open(sealed.home, readonly=True)
    assert all(name in one_line(caught.value) for name in named)
    report = verify_store(sealed.home)
    assert not report.ok
    assert all(any(name in problem for problem in report.problems) for name in named), report.problems

    result = cli("verify", "--home", sealed.home)
    assert result.exit_code == 1
    assert "ok:" not in result.stdout
    assert all(name in result.stderr for name in named)


def test_a_segment_named_like_a_seal_but_holding_other_events_than_the_wal_is_kept(home, tmp_path, events, tree_bytes):
    with Store.open(home) as store:
        store.append("demo/d1", events.demo("d1", steps=1), expected_seq=0)
        store.seal()
        store.append("demo/d2", events.demo("d2", steps=1), expected_seq=0)
    elsewhere = tmp_path / "elsewhere"
    with Store.open(elsewhere) as other:  # a segment of the same positions holding other events
        for name in ("x", "y"):
            other.append(f"demo/{name}", events.demo(name, steps=1), expected_seq=0)
            other.seal()
        [_, foreign] = other.manifest.segments
    shutil.copy2(elsewhere / "segments" / foreign.file, home / "segments" / foreign.file)
    before = tree_bytes(home)

    with pytest.raises(StoreError, match=foreign.file):
        Store.open(home)
    assert tree_bytes(home) == before


# ---------------------------------------------------------------- genuine debris is still removed


def test_old_segments_left_by_a_compaction_after_the_manifest_switched_are_removed(home, tmp_path, events):
    with Store.open(home) as store:
        for d in range(3):
            store.append(f"demo/d{d}", events.demo(f"d{d}"), expected_seq=0)
            store.seal()
        ids = store.read()["event_id"].to_pylist()
    keep = tmp_path / "before-compact"
    shutil.copytree(home / "segments", keep)
    with Store.open(home) as store:
        (merged,) = store.compact()
    # The crash came after the manifest named the merged file and before the old ones were unlinked.
    for segment in keep.iterdir():
        shutil.copy2(segment, home / "segments" / segment.name)

    with Store.open(home) as store:
        assert sorted(p.name for p in (home / "segments").iterdir()) == [merged.file]
        assert sum("not in the manifest" in line for line in store.recovery) == 3
        assert store.read()["event_id"].to_pylist() == ids
    assert verify_store(home).ok


def test_verify_calls_debris_of_an_interrupted_seal_a_note_not_a_problem(home, events):
    with Store.open(home) as store:
        store.append("demo/d1", events.demo("d1"), expected_seq=0)
        store.seal()
    (home / "segments" / ".00000000000000000006-00000000000000000009.parquet.tmp").write_bytes(b"PAR1 half")

    report = verify_store(home)

    assert report.ok, report.problems
    assert any("parquet.tmp" in note for note in report.notes)


# ---------------------------------------------------------------- rebuilding the manifest


REPAIRABLE = {k: v for k, v in UNLISTED.items() if k != "a user's notes.txt in segments/"}


@pytest.mark.parametrize("damage", REPAIRABLE.values(), ids=REPAIRABLE.keys())
def test_repair_rebuilds_the_manifest_from_the_segments_and_the_store_opens_whole(sealed, damage, events):
    damage(sealed)

    repair = repair_manifest(sealed.home)

    assert repair.changed
    assert [s.rows for s in repair.manifest.segments] == [4, 4, 4]
    assert verify_store(sealed.home).ok
    with Store.open(sealed.home) as store:
        assert store.read()["event_id"].to_pylist() == sealed.ids
        assert store.append("demo/d3", [events.observation(0)], expected_seq=0).first_position == len(sealed.ids)


def test_repair_of_a_deleted_manifest_writes_back_the_same_entries(sealed):
    original = json.loads((sealed.home / "manifest.json").read_bytes())
    (sealed.home / "manifest.json").unlink()

    repair_manifest(sealed.home)

    assert json.loads((sealed.home / "manifest.json").read_bytes()) == original


def test_repair_of_a_healthy_manifest_changes_nothing(sealed, tree_bytes):
    before = tree_bytes(sealed.home)

    repair = repair_manifest(sealed.home)

    assert not repair.changed
    assert tree_bytes(sealed.home) == before


def test_repair_leaves_debris_of_an_interrupted_seal_unlisted(home, tmp_path, events):
    with Store.open(home) as store:
        store.append("demo/d1", events.demo("d1"), expected_seq=0)
        store.seal()
        store.append("demo/d2", events.demo("d2"), expected_seq=0)
        ids = store.read()["event_id"].to_pylist()
    wal = tmp_path / "wal"
    shutil.copytree(home / "wal", wal)
    with Store.open(home) as store:
        debris = store.seal()
    # The crash came after the seal's rename; then the manifest was lost too.
    for path in wal.iterdir():
        shutil.copy2(path, home / "wal" / path.name)
    (home / "manifest.json").unlink()

    repair = repair_manifest(home)

    assert [s.rows for s in repair.manifest.segments] == [6]
    assert debris is not None and debris.file in repair.left_out
    with Store.open(home) as store:
        assert store.read()["event_id"].to_pylist() == ids
    assert verify_store(home).ok


def test_repair_refuses_segments_with_a_gap_and_changes_nothing(sealed, tree_bytes, one_line):
    (sealed.home / "manifest.json").unlink()
    (sealed.home / "segments" / sealed.segments[1]).unlink()
    before = tree_bytes(sealed.home)

    with pytest.raises(StoreError) as caught:
        repair_manifest(sealed.home)

    message = one_line(caught.value)
    assert "positions 4..7" in message
    assert tree_bytes(sealed.home) == before


def test_repair_refuses_two_segments_holding_the_same_positions(sealed, tree_bytes, one_line):
    shutil.copy2(sealed.home / "segments" / sealed.segments[0], sealed.home / "segments" / "copy.parquet")
    before = tree_bytes(sealed.home)

    with pytest.raises(StoreError) as caught:
        repair_manifest(sealed.home)

    message = one_line(caught.value)
    assert "copy.parquet" in message and sealed.segments[0] in message
    assert tree_bytes(sealed.home) == before


def test_repair_never_replaces_a_manifest_by_an_empty_one(sealed, tree_bytes):
    for name in sealed.segments:
        (sealed.home / "segments" / name).unlink()
    before = tree_bytes(sealed.home)

    with pytest.raises(StoreError, match="no segment"):
        repair_manifest(sealed.home)
    assert tree_bytes(sealed.home) == before


def test_repair_refuses_a_file_that_is_not_a_segment_and_changes_nothing(sealed, tree_bytes):
    user_notes(sealed)
    before = tree_bytes(sealed.home)

    with pytest.raises(StoreError, match=r"notes\.txt"):
        repair_manifest(sealed.home)
    assert tree_bytes(sealed.home) == before


def test_verify_repair_on_the_command_line_rebuilds_a_deleted_manifest(sealed):
    delete_manifest(sealed)

    result = cli("verify", "--repair", "--home", sealed.home)

    assert result.exit_code == 0, result.output
    assert "rebuilt manifest.json: 3 segment(s)" in result.stdout
    assert f"ok: {len(sealed.ids)} events, 3 segment(s)" in result.stdout


def test_verify_repair_on_the_command_line_refuses_in_one_line(sealed):
    user_notes(sealed)

    result = cli("verify", "--repair", "--home", sealed.home)

    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "notes.txt" in line


# ---------------------------------------------------------------- malformed on-disk state


def write_manifest_json(value: object) -> Callable[[Path], None]:
    return lambda home: (home / "manifest.json").write_text(json.dumps(value))


def change_entry(**changes: object) -> Callable[[Path], None]:
    def change(home: Path) -> None:
        body = json.loads((home / "manifest.json").read_bytes())
        body["segments"][0].update(changes)
        (home / "manifest.json").write_text(json.dumps(body))

    return change


def replace_with_a_directory(relative: str) -> Callable[[Path], None]:
    def replace(home: Path) -> None:
        path = home / relative
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        path.mkdir()

    return replace


def replace_with_a_file(relative: str) -> Callable[[Path], None]:
    def replace(home: Path) -> None:
        shutil.rmtree(home / relative)
        (home / relative).write_text("not a directory")

    return replace


def stray_wal_backup(home: Path) -> None:
    [wal] = (home / "wal").glob("*.arrow")
    shutil.copy2(wal, home / "wal" / "backup.arrow")


MALFORMED: dict[str, Callable[[Path], None]] = {
    "manifest []": write_manifest_json([]),
    "manifest {}": write_manifest_json({}),
    "manifest null": write_manifest_json(None),
    "manifest a string": write_manifest_json("segments"),
    "manifest without segments": write_manifest_json({"format": 1}),
    "manifest segments not a list": write_manifest_json({"format": 1, "segments": {}}),
    "manifest entry empty": write_manifest_json({"format": 1, "segments": [{}]}),
    "manifest entry not an object": write_manifest_json({"format": 1, "segments": [7]}),
    "manifest position a string": change_entry(first_position="0"),
    "manifest rows a bool": change_entry(rows=True),
    "manifest entry with an unknown key": change_entry(extra=1),
    "manifest last before first": change_entry(last_position=-3),
    "manifest file outside segments/": change_entry(file="../manifest.json"),
    "manifest sha256 not a digest": change_entry(sha256=12),
    "manifest.json a directory": replace_with_a_directory("manifest.json"),
    "wal/backup.arrow": stray_wal_backup,
    "a directory named as a WAL file": replace_with_a_directory("wal/00000000000000000099.arrow"),
    "segments/ a file": replace_with_a_file("segments"),
    "wal/ a file": replace_with_a_file("wal"),
}


@pytest.fixture
def small(home, events) -> Path:
    """A closed store of one sealed segment and a WAL tail."""
    with Store.open(home) as store:
        store.append("demo/d1", events.demo("d1", steps=1), expected_seq=0)
        store.seal()
        store.append("demo/d2", events.demo("d2", steps=1), expected_seq=0)
    return home


@pytest.mark.parametrize("malform", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_store_files_are_a_one_line_traj_error_on_open(small, malform, one_line):
    malform(small)

    for readonly in (False, True):
        with pytest.raises(TrajError) as caught:
            Store.open(small, readonly=readonly)
        one_line(caught.value)


@pytest.mark.parametrize("malform", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("command", [["verify"], ["stats"], ["query", "SELECT count(*) FROM events"]])
def test_malformed_store_files_are_a_clean_nonzero_exit_of_the_cli(small, malform, command):
    malform(small)

    result = cli(*command, "--home", small)

    assert result.exit_code == 1, result.output
    assert "ok:" not in result.stdout
    assert result.stderr.strip(), "no reason given"
    assert "Traceback" not in result.output
