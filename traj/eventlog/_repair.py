"""``traj verify --repair``: rebuild a lost, stale or unreadable manifest from the segments themselves.

Each segment file carries everything the manifest says about it: its rows and their positions
(read from the file, every page checksum checked), its size and its sha256 (recomputed). The
rebuilt manifest lists them only if they form one log: positions from 0 with no gap and no
overlap, continued by the WAL without a gap, and agreeing with the WAL (same event ids) where
both hold a position. Anything else is refused with the reason and nothing is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from traj.errors import CorruptSegmentError, StoreError, one_line
from traj.eventlog._envelope import EVENT_SCHEMA
from traj.eventlog._layout import SEAL_TEMP, held_elsewhere, missing_from, wal_files, wal_ids
from traj.eventlog._lock import WriterLock
from traj.eventlog._segments import Manifest, Segment, file_sha256, read_manifest, write_manifest

__all__ = ["ManifestRepair", "repair_manifest"]


@dataclass(frozen=True)
class ManifestRepair:
    """What ``repair_manifest`` found: the manifest now in force and the segment files it left out."""

    manifest: Manifest
    changed: bool
    """False when manifest.json already listed exactly these segments (nothing was written)."""
    left_out: dict[str, str] = field(default_factory=dict)
    """Debris of an interrupted seal (its events are in the WAL): file name -> why; the next open removes it."""


def repair_manifest(home: str | os.PathLike[str]) -> ManifestRepair:
    """Rebuild ``manifest.json`` from the segment files in ``segments/``; takes the writer lock.

    Raises StoreError, changing nothing, when a file in ``segments/`` is not a readable
    segment, when the segments do not form one log with the WAL, or when no segment is left
    to list in place of a manifest that listed some (never an empty manifest for a lost one).
    """
    home = Path(home)
    if not (home / "wal").is_dir():
        raise StoreError(f"no traj store at {home}")
    lock = WriterLock(home)
    lock.acquire()
    try:
        return _repair(home)
    finally:
        lock.release()


def _repair(home: Path) -> ManifestRepair:
    segments_dir = home / "segments"
    wal_rows = wal_ids(wal_files(home / "wal"))
    names = sorted(p.name for p in segments_dir.iterdir()) if segments_dir.is_dir() else []
    found = sorted(
        (_read_segment_file(segments_dir / name) for name in names if not SEAL_TEMP.fullmatch(name)),
        key=lambda s: (s.first_position, s.last_position),
    )
    wal_first = pc.min(wal_rows["position"]).as_py()
    left_out: dict[str, str] = {}
    listed: list[Segment] = []
    for segment in found:
        if wal_first is not None and segment.last_position >= wal_first:
            path = segments_dir / segment.file
            if not held_elsewhere(path, segment.first_position, segment.last_position, segments_dir, [], wal_rows):
                left_out[segment.file] = "interrupted seal: its events are in the WAL"
                continue
        listed.append(segment)
    manifest = Manifest(tuple(listed))
    _check_one_log(manifest, segments_dir, wal_rows)
    try:
        before: Manifest | None = read_manifest(home)
    except CorruptSegmentError:
        before = None  # unreadable: replaced by what the files say
    if manifest == before:
        return ManifestRepair(manifest, False, left_out)
    if not listed and (home / "manifest.json").exists():
        raise StoreError(
            f"no segment in {segments_dir} to list; refusing to replace {home / 'manifest.json'} by an empty "
            "manifest (restore the segment files first)"
        )
    try:
        write_manifest(home, manifest)
    except OSError as exc:
        raise StoreError(f"cannot write {home / 'manifest.json'}: {one_line(exc)}") from None
    return ManifestRepair(manifest, True, left_out)


def _read_segment_file(path: Path) -> Segment:
    """The manifest entry of the segment file at ``path``, from its own footer and contents."""

    def refuse(why: str) -> StoreError:
        return StoreError(f"segments/{path.name} is not a segment of this store ({why}); move it out of segments/")

    if not path.is_file():
        raise refuse("not a file")
    try:
        parquet = pq.ParquetFile(path, page_checksum_verification=True)
        if not parquet.schema_arrow.equals(EVENT_SCHEMA):
            raise refuse("its columns are not the event log's")
        rows = parquet.metadata.num_rows
        # Every column is read, so every page's checksum is checked: a damaged file is never blessed.
        positions = [batch.column("position").to_numpy() for batch in parquet.iter_batches()]
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        raise refuse(f"unreadable: {one_line(exc)}") from None
    position = np.concatenate(positions) if positions else np.empty(0, dtype=np.int64)
    if rows == 0 or len(position) != rows or not (np.diff(position) == 1).all():
        raise refuse("its positions are not one contiguous run")
    first, last = int(position[0]), int(position[-1])
    return Segment(path.name, first, last, rows, path.stat().st_size, file_sha256(path))


def _check_one_log(manifest: Manifest, segments_dir: Path, wal_rows: pa.Table) -> None:
    """Refuse unless the segments run from position 0 without gap or overlap and the WAL continues them."""
    expected, previous = 0, None
    for segment in manifest.segments:
        if segment.first_position > expected:
            raise StoreError(
                f"the segments do not form one log: positions {expected}..{segment.first_position - 1} are in no "
                f"segment (before segments/{segment.file}); restore the missing segment file"
            )
        if segment.first_position < expected:
            assert previous is not None
            raise StoreError(
                f"the segments do not form one log: segments/{previous.file} and segments/{segment.file} both "
                f"hold position {segment.first_position}; move the one that is not part of the log out of segments/"
            )
        expected, previous = segment.last_position + 1, segment
    sealed_again = wal_rows.filter(pc.less(wal_rows["position"], expected)).sort_by("position")
    problem = missing_from(sealed_again, segments_dir, manifest.segments, wal_rows.slice(0, 0))
    if problem:
        raise StoreError(f"the WAL does not agree with the segments at positions below {expected}: {problem}")
    wal_first = pc.min(wal_rows.filter(pc.greater_equal(wal_rows["position"], expected))["position"]).as_py()
    if wal_first is not None and wal_first != expected:
        raise StoreError(
            f"the segments end at position {expected - 1} but the WAL starts at {wal_first}: positions "
            f"{expected}..{wal_first - 1} are in no segment and no WAL file; restore the missing segment file"
        )
