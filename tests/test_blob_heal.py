"""A damaged blob is healed by putting its bytes again.

A blob's name is its content's hash, so the same bytes always go to the same file. A put that
finds the file there but holding other bytes (a flipped bit, cut short, emptied) writes it
again (temp, fsync, rename), rather than trusting the name and leaving the damage forever.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from traj.eventlog import NewEvent, Observation, verify_store

SHOT = b"\x89PNG" + bytes(range(256)) * 64


def flip_a_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-1])


def empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [flip_a_bit, cut_short, empty])
def test_putting_the_same_bytes_again_heals_a_damaged_blob(store, damage: Callable[[Path], None]):
    digest = store.put_blob(SHOT)
    store.append("demo/d", [NewEvent(data=Observation(url="http://x/", screenshot=digest), blobs=(digest,))], 0)
    path = store.blobs.path(digest)
    damage(path)
    assert not verify_store(store.home).ok
    assert store.put_blob(SHOT) == digest
    assert store.get_blob(digest) == SHOT
    assert verify_store(store.home).ok
    assert sorted(p.name for p in path.parent.iterdir()) == [digest]  # no temp file left


def test_putting_an_intact_blob_again_leaves_its_file_alone(store):
    digest = store.put_blob(SHOT)
    before = store.blobs.path(digest).stat()
    assert store.put_blob(SHOT) == digest
    after = store.blobs.path(digest).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
