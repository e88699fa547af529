"""``traj stats``: what a store holds, computed from the manifest, the WAL and the blobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from traj.eventlog._segments import read_segment
from traj.eventlog._store import Store

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
    snapshot = store.snapshot()
    parts = [snapshot.tail.select(["type", "stream"])]
    for segment in snapshot.segments:
        if segment.file not in snapshot.damaged:
            parts.append(read_segment(snapshot.segments_dir, segment, columns=["type", "stream"]))
    table = pa.concat_tables(parts)
    counts = table.group_by("type").aggregate([("type", "count")]).sort_by("type")
    wal_paths = list((store.home / "wal").glob("*.arrow"))
    blob_paths = [p for p in (store.home / "blobs").rglob("*") if p.is_file() and not p.name.startswith(".")]
    return StoreStats(
        home=store.home,
        events=snapshot.end,
        streams=pc.count_distinct(table["stream"]).as_py() if table.num_rows else 0,
        segments=len(snapshot.segments),
        segment_bytes=sum(s.bytes for s in snapshot.segments),
        wal_files=len(wal_paths),
        wal_events=snapshot.tail.num_rows,
        wal_bytes=sum(p.stat().st_size for p in wal_paths),
        blobs=len(blob_paths),
        blob_bytes=sum(p.stat().st_size for p in blob_paths),
        by_type=dict(zip(counts["type"].to_pylist(), counts["type_count"].to_pylist(), strict=True)),
        damaged=snapshot.damaged,
    )
