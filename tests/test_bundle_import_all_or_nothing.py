"""Bundle imports land whole or not at all, even beside another writer, and read a line at a time.

Everything in a bundle is checked before the first append, but another writer can still append
to one of its streams between those checks and the appends. The import's streams are then
written by one ``Store.append_many``: refused together, and a retry lands once. One line of
``events.jsonl`` is capped before it is read whole: a gigabyte-long line within the archive's
limit would cost several gigabytes to read and decode. A blob damaged in the store is healed
by importing a bundle that carries it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.test_bundle_integrity import _IMPORT_AND_MEASURE, MIB, _header, _write_gzip_of_repeats
from traj.errors import BundleError, BundleTooLargeError
from traj.eventlog import BundleLimits, NewEvent, Store, export_demos, import_bundle, verify_store

SHOT = b"\x89PNG" + b"pixels" * 200


@pytest.fixture
def two_demos(tmp_path, events) -> tuple[Path, list[NewEvent]]:
    """A bundle of demo/d1 (4 events) and demo/d2 (6 events, a screenshot blob), and d2's events."""
    second = events.demo("d2", steps=2)
    with Store.open(tmp_path / "laptop") as laptop:
        shot = laptop.put_blob(SHOT)
        laptop.append("demo/d1", events.demo("d1", steps=1), 0)
        second[1] = events.observation(0, screenshot=shot)
        laptop.append("demo/d2", second, 0)
        export_demos(laptop, ["d1", "d2"], tmp_path / "two.tar.gz")
    return tmp_path / "two.tar.gz", second


def _log(store: Store) -> list[dict]:
    return store.read(columns=["position", "event_id", "stream", "seq"]).to_pylist()


def test_a_writer_appending_to_one_stream_mid_import_leaves_none_of_the_bundle(store, two_demos, monkeypatch):
    """The import is planned, then (while its blob is stored) another import lands the start of demo/d2."""
    bundle, d2 = two_demos
    put_blob = store.put_blob

    def put_blob_after_another_writer(data: bytes) -> str:
        store.append("demo/d2", d2[:1], 0)  # an earlier export of d2, imported meanwhile
        return put_blob(data)

    monkeypatch.setattr(store, "put_blob", put_blob_after_another_writer)
    with pytest.raises(BundleError, match="nothing was imported"):
        import_bundle(store, bundle)
    assert [row["stream"] for row in _log(store)] == ["demo/d2"]  # the other writer's event, nothing of ours
    monkeypatch.undo()

    again = import_bundle(store, bundle)  # the retry lands once
    assert (again.added_events, again.events) == (9, 10)
    assert store.stream_seq("demo/d1") == 4 and store.stream_seq("demo/d2") == 6
    assert import_bundle(store, bundle).added_events == 0
    assert verify_store(store.home).ok


def _bundle_with_a_long_line(path: Path, line_bytes: int) -> Path:
    """A small tar.gz whose events.jsonl is one event line of ``line_bytes`` (mostly one JSON string)."""
    manifest = json.dumps({"format": "traj-bundle", "version": 1, "demos": ["d"]}).encode()
    event = {"event_id": "018f0000-0000-7000-8000-000000000000", "stream": "demo/d", "seq": 0, "type": "demo.started"}
    prefix = json.dumps(event).encode()[:-1] + b', "v": 1, "data": {"goal": "'
    suffix = b'"}}\n'
    repeats = (line_bytes - len(prefix) - len(suffix)) // MIB
    size = len(prefix) + repeats * MIB + len(suffix)
    head = (
        _header("bundle.json", tarfile.REGTYPE, len(manifest))
        + manifest.ljust(512, b"\0")
        + _header("events.jsonl", tarfile.REGTYPE, size)
        + prefix
    )
    _write_gzip_of_repeats(path, head, b"a" * MIB, repeats, suffix + b"\0" * (-size % 512) + b"\0" * 1024)
    return path


def test_a_256_mib_event_line_is_refused_before_it_is_read_whole(tmp_path):
    """Under the archive's 1 GiB limit, over the 64 MiB line limit: refused, memory far under the line's size."""
    assert BundleLimits().max_line_bytes == 64 * MIB
    bundle = _bundle_with_a_long_line(tmp_path / "long-line.tar.gz", 256 * MIB)
    assert bundle.stat().st_size < 2 * MIB
    Store.open(tmp_path / "store").close()
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_AND_MEASURE, str(tmp_path / "store"), str(bundle)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome["error"].startswith("BundleTooLargeError: events.jsonl line 1 is over the limit"), outcome
    assert outcome["grew"] < 160 * MIB, outcome
    with Store.open(tmp_path / "store", readonly=True) as store:
        assert store.next_position == 0


def test_a_bundle_json_over_the_limit_is_refused_before_it_is_read(store, two_demos):
    bundle, _ = two_demos
    with pytest.raises(BundleTooLargeError, match=r"bundle\.json is over the limit of 50 bytes"):
        import_bundle(store, bundle, limits=BundleLimits(max_line_bytes=50))
    assert store.next_position == 0


def test_lines_up_to_the_limit_import_and_a_longer_one_is_refused(tmp_path, store, two_demos):
    bundle, _ = two_demos
    with tarfile.open(bundle) as tar:
        lines = tar.extractfile("events.jsonl").read().splitlines(keepends=True)
    longest = max(len(line) - 1 for line in lines)
    with pytest.raises(BundleError, match=r"line \d+ is over the limit"):
        import_bundle(store, bundle, limits=BundleLimits(max_line_bytes=longest - 1))
    assert store.next_position == 0
    assert import_bundle(store, bundle, limits=BundleLimits(max_line_bytes=longest)).added_events == 10


def test_importing_a_bundle_again_heals_a_damaged_blob(store, two_demos):
    bundle, _ = two_demos
    import_bundle(store, bundle)
    path = store.blobs.path(hashlib.sha256(SHOT).hexdigest())
    path.write_bytes(b"damaged")
    assert not verify_store(store.home).ok
    assert import_bundle(store, bundle).added_events == 0
    assert store.get_blob(hashlib.sha256(SHOT).hexdigest()) == SHOT
    assert verify_store(store.home).ok
