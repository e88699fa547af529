"""``traj verify``: check every checksum, the manifest, the seqs and every blob reference."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from traj.errors import CorruptWALError, InvalidEventError, StoreError
from traj.eventlog._blobs import BlobStore
from traj.eventlog._layout import LogMovedError, read_layout
from traj.eventlog._payloads import decode_payload
from traj.eventlog._segments import read_segment, verify_segment
from traj.eventlog._wal import read_wal

__all__ = ["VerifyReport", "verify_store"]


@dataclass
class VerifyReport:
    """What ``verify_store`` found; ``ok`` is False when anything acknowledged is damaged."""

    home: Path
    events: int = 0
    segments: int = 0
    wal_files: int = 0
    blobs_checked: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Harmless findings, e.g. an unacknowledged torn WAL tail that the next open drops."""

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def verify_store(home: str | os.PathLike[str]) -> VerifyReport:
    """Check the store at ``home`` without changing anything; safe beside a live writer."""
    home = Path(home)
    report = VerifyReport(home)
    if not home.is_dir():
        report.problems.append(f"no traj store at {home}")
        return report
    try:
        layout = read_layout(home, attempts=5)
    except (StoreError, LogMovedError) as exc:
        report.problems.append(str(exc))
        return report
    manifest = layout.manifest
    report.problems.extend(f"{problem}{_REPAIR_HINT}" for problem in layout.unlisted.problems())
    for name, why in layout.unlisted.debris.items():
        report.notes.append(f"segments/{name}: {why}; the next writer removes it")
    tables: list[pa.Table] = []
    skipped = False  # a part left out leaves its own gap in the positions
    for segment in manifest.segments:
        report.segments += 1
        problem = verify_segment(home / "segments", segment)
        if problem:
            report.problems.append(problem)
            skipped = True
            continue
        tables.append(read_segment(home / "segments", segment))
    for _, path in layout.wal:
        report.wal_files += 1
        try:
            scan = read_wal(path)
        except CorruptWALError as exc:
            report.problems.append(str(exc))
            skipped = True
            continue
        except FileNotFoundError:
            skipped = True  # sealed by a live writer while we looked
            continue
        if scan.problem:
            report.notes.append(
                f"wal/{path.name}: {scan.torn_bytes} unacknowledged bytes at the end ({scan.problem}); "
                "the next writer drops them"
            )
        if scan.batches:
            table = pa.Table.from_batches(scan.batches)
            table = table.filter(pc.greater_equal(table["position"], manifest.next_position))
            tables.append(table)
    if tables:
        _check_events(pa.concat_tables(tables), BlobStore(home / "blobs"), report, whole=not skipped)
    return report


_REPAIR_HINT = "; rebuild the manifest with 'traj verify --repair'"


def _check_events(table: pa.Table, blobs: BlobStore, report: VerifyReport, *, whole: bool) -> None:
    report.events = table.num_rows
    positions = table["position"].to_numpy()
    if whole and not (positions == range(len(positions))).all():
        report.problems.append("global positions do not run from 0 without a gap: events are missing")
    if pc.count_distinct(table["event_id"]).as_py() != table.num_rows:
        report.problems.append("some event_id appears more than once")
    seqs = table.group_by("stream").aggregate(
        [("seq", "min"), ("seq", "max"), ("seq", "count_distinct"), ("seq", "count")]
    )
    for row in seqs.to_pylist():
        if (
            row["seq_min"] != 0
            or row["seq_max"] + 1 != row["seq_count"]
            or row["seq_count_distinct"] != row["seq_count"]
        ):
            report.problems.append(f"stream {row['stream']!r} has seq gaps or duplicates")
    for row in table.select(["position", "type", "v", "data"]).to_pylist():
        try:
            decode_payload(row["type"], row["v"], row["data"])
        except InvalidEventError as exc:
            report.problems.append(f"event at position {row['position']}: {exc}")
    referenced = set(pc.list_flatten(table["blobs"]).to_pylist())
    for digest in sorted(referenced):
        report.blobs_checked += 1
        problem = blobs.check(digest)
        if problem:
            report.problems.append(problem)
