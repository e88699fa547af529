"""``traj stats``: what a store holds, computed from the manifest, the WAL and the blobs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from traj.eventlog._segments import read_segment
from traj.eventlog._store import Snapshot, Store

__all__ = ["StoreStats", "store_stats"]


@dataclass(frozen=True)
class StoreStats:
    """Counts and sizes of one store."""

    home: Path
    events: int
    streams: int
    segments: int
    segment_bytes: int
    wal_files: int
    wal_events: int
    wal_bytes: int
    blobs: int
    blob_bytes: int
    by_type: dict[str, int] = field(default_factory=dict)
    damaged: dict[str, str] = field(default_factory=dict)


def store_stats(store: Store) -> StoreStats:
    """Summarise ``store`` (reads only the ``type`` and ``stream`` columns)."""
    snapshot, table = store.reading(_types_and_streams)
    counts = table.group_by("type").aggregate([("type", "count")]).sort_by("type")
    wal_sizes = _sizes((store.home / "wal").glob("*.arrow"))
    blob_sizes = _sizes(p for p in (store.home / "blobs").rglob("*") if p.is_file() and not p.name.startswith("."))
    return StoreStats(
        home=store.home,
        events=snapshot.end,
        streams=pc.count_distinct(table["stream"]).as_py() if table.num_rows else 0,
        segments=len(snapshot.segments),
        segment_bytes=sum(s.bytes for s in snapshot.segments),
        wal_files=len(wal_sizes),
        wal_events=snapshot.tail.num_rows,
        wal_bytes=sum(wal_sizes),
        blobs=len(blob_sizes),
        blob_bytes=sum(blob_sizes),
        by_type=dict(zip(counts["type"].to_pylist(), counts["type_count"].to_pylist(), strict=True)),
        damaged=snapshot.damaged,
    )


def _types_and_streams(snapshot: Snapshot) -> tuple[Snapshot, pa.Table]:
    """The ``type`` and ``stream`` columns of every healthy segment and the WAL tail."""
    parts = [snapshot.tail.select(["type", "stream"])]
    for segment in snapshot.segments:
        if segment.file not in snapshot.damaged:
            parts.append(read_segment(snapshot.segments_dir, segment, columns=["type", "stream"]))
    return snapshot, pa.concat_tables(parts)


def _sizes(paths: Iterable[Path]) -> list[int]:
    """The size of each file still there: a live writer seals WAL files away while they are counted."""
    sizes = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            sizes.append(path.stat().st_size)
    return sizes
