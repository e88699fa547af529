"""Bundle imports land whole or not at all, even beside another writer.

Everything in a bundle is checked before the first append, but another writer can still append
to one of its streams between those checks and the appends. The import's streams are then
written by one ``Store.append_many``: refused together, and a retry lands once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from traj.errors import BundleError
from traj.eventlog import NewEvent, Store, export_demos, import_bundle, verify_store

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
