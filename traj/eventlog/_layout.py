"""Which files in a store directory belong to the log, which are debris, and which are neither.

The manifest names the sealed segments; ``wal/<first position>.arrow`` files hold the rest. A
file in ``segments/`` the manifest does not list may be removed only when it is provably
debris of an interrupted seal or merge: a seal's temp file, or a file named as a seal names a
segment whose every row the log still holds elsewhere (the WAL it was sealed from, or the
listed segments a merge did or did not switch to) at the same positions with the same event
ids. Anything else (a user's file, a renamed segment, a segment a stale or lost manifest does
not list) may be the only copy of acknowledged events: it is reported, never deleted.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from traj.errors import CorruptSegmentError, StoreError, one_line
from traj.eventlog._envelope import EVENT_SCHEMA
from traj.eventlog._segments import Manifest, Segment, read_manifest, read_segment
from traj.eventlog._wal import WAL_NAME, read_wal

__all__ = [
    "ID_SCHEMA",
    "SEAL_TEMP",
    "SEGMENT_NAME",
    "Layout",
    "LogMovedError",
    "Unlisted",
    "held_elsewhere",
    "missing_from",
    "read_layout",
    "wal_files",
    "wal_ids",
]

SEGMENT_NAME = re.compile(r"(\d{20})-(\d{20})\.parquet")
"""How a seal or a merge names a segment: its first and last position (see write_segment)."""
SEAL_TEMP = re.compile(r"\.\d{20}-\d{20}\.parquet\.tmp")
"""The temp file a seal writes before its rename."""
ID_SCHEMA = pa.schema([EVENT_SCHEMA.field("position"), EVENT_SCHEMA.field("event_id")])
"""Where each event is: what proves a file's events are elsewhere in the log."""
_NAMED = 5
"""Foreign files an error names; a lost manifest can leave thousands unlisted."""
_REPAIR_HINT = (
    "move a file that is not a segment out of segments/; rebuild the manifest from the segments "
    "with 'traj verify --repair'"
)


class LogMovedError(FileNotFoundError):
    """A live writer sealed or merged while the files were read: read them again."""


@dataclass(frozen=True)
class Unlisted:
    """Files in ``segments/`` that the manifest does not list, judged."""

    debris: dict[str, str] = field(default_factory=dict)
    """Removable: file name -> why its events are safe elsewhere."""
    foreign: dict[str, str] = field(default_factory=dict)
    """Not removable: file name -> what it is."""

    def problems(self) -> list[str]:
        """One line per foreign file."""
        return [f"segments/{name} is not listed in manifest.json ({why})" for name, why in self.foreign.items()]

    def refusal(self, home: Path) -> StoreError:
        """The error that stops a store from opening over foreign files (the first few named)."""
        problems = self.problems()
        named = "; ".join(problems[:_NAMED])
        more = f"; and {len(problems) - _NAMED} more (see 'traj verify')" if len(problems) > _NAMED else ""
        return StoreError(f"refusing to open {home}: {named}{more} ({_REPAIR_HINT})")


@dataclass(frozen=True)
class Layout:
    """The manifest, the WAL files and the unlisted segment files, read so that they agree."""

    manifest: Manifest
    wal: list[tuple[int, Path]]
    """(first position, path) of every WAL file, in position order."""
    unlisted: Unlisted


def read_layout(home: Path, *, attempts: int = 1) -> Layout:
    """Read what the store directory holds; changes nothing.

    Raises StoreError for a malformed manifest or a stray WAL file name. When a live writer
    seals or merges meanwhile (a file vanishes, the manifest changes) it reads again, up to
    ``attempts`` times, then raises LogMovedError (a FileNotFoundError).
    """
    attempt = 1
    while True:
        try:
            wal = wal_files(home / "wal")
            manifest = read_manifest(home)
            unlisted = _judge_unlisted(home / "segments", manifest, wal)
            if unlisted.foreign and read_manifest(home) != manifest:
                raise LogMovedError(f"the manifest of {home} changed while it was read")
            return Layout(manifest, wal, unlisted)
        except FileNotFoundError as exc:
            if attempt >= attempts:
                raise LogMovedError(f"{home} kept changing while it was read ({exc}); try again") from None
            attempt += 1
            time.sleep(0.01)


def wal_files(wal_dir: Path) -> list[tuple[int, Path]]:
    """(first position, path) of each WAL file in ``wal_dir``, in position order.

    A ``*.arrow`` entry not named as a WAL file is refused rather than guessed at: a backup
    copy read as part of the log would duplicate every event in it.
    """
    if not wal_dir.is_dir():
        raise StoreError(f"no traj store at {wal_dir.parent}: {wal_dir} is not a directory")
    found = []
    for path in wal_dir.glob("*.arrow"):
        if WAL_NAME.fullmatch(path.name) and path.is_file():
            found.append((int(path.stem), path))
        elif path.exists() or path.is_symlink():
            raise StoreError(
                f"wal/{path.name} is not a WAL file of this store (a file named <20-digit first position>.arrow); "
                f"move it out of {wal_dir}"
            )
        # else gone since it was listed: a live writer sealed it, and the manifest read after this lists it
    return sorted(found)


def _judge_unlisted(segments_dir: Path, manifest: Manifest, wal: Sequence[tuple[int, Path]]) -> Unlisted:
    if not segments_dir.exists():
        return Unlisted()
    if not segments_dir.is_dir():
        raise StoreError(f"{segments_dir} is not a directory; the store's segments cannot be read")
    listed = {s.file for s in manifest.segments}
    debris: dict[str, str] = {}
    foreign: dict[str, str] = {}
    wal_rows: pa.Table | None = None  # read only when a file needs it: most opens find nothing unlisted
    for path in sorted(p for p in segments_dir.iterdir() if p.name not in listed):
        name = path.name
        if SEAL_TEMP.fullmatch(name) and path.is_file():
            debris[name] = "temp file of an interrupted seal"
            continue
        match = SEGMENT_NAME.fullmatch(name)
        if match is None or not path.is_file():
            if path.exists() or path.is_symlink():
                foreign[name] = "not a segment file"
            continue  # gone since it was listed: a live writer's merge deleted it, it is no file of the log
        if wal_rows is None:
            wal_rows = wal_ids(wal)
        problem = held_elsewhere(path, int(match[1]), int(match[2]), segments_dir, manifest.segments, wal_rows)
        if problem and not path.exists():  # unreadable because it was merged away while read, as above
            continue
        if problem:
            foreign[name] = problem
        else:
            debris[name] = "interrupted seal or merge: its events are in the log elsewhere"
    return Unlisted(debris, foreign)


def wal_ids(wal: Sequence[tuple[int, Path]]) -> pa.Table:
    """(position, event_id) of every verified row of the WAL files (ID_SCHEMA)."""
    parts = [ID_SCHEMA.empty_table()]
    for _, path in wal:
        batches = read_wal(path).batches
        if batches:
            parts.append(pa.Table.from_batches(batches).select(ID_SCHEMA.names).cast(ID_SCHEMA))
    return pa.concat_tables(parts)


def held_elsewhere(
    path: Path,
    first: int,
    last: int,
    segments_dir: Path,
    segments: Sequence[Segment],
    wal_rows: pa.Table,
) -> str:
    """'' when the log holds every row of the segment file at ``path`` (positions ``first..last``)
    elsewhere, at the same position with the same event id; else why it does not."""
    try:
        rows = pq.read_table(path, columns=ID_SCHEMA.names).select(ID_SCHEMA.names).cast(ID_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowIOError, pa.ArrowNotImplementedError, OSError, KeyError) as exc:
        return f"not a readable segment: {one_line(exc)}"
    rows = rows.sort_by("position")
    if rows["position"].to_pylist() != list(range(first, last + 1)):
        return f"its positions are not the {first}..{last} its name says"
    others = [s for s in segments if s.file != path.name]
    return missing_from(rows, segments_dir, others, wal_rows)


def missing_from(rows: pa.Table, segments_dir: Path, segments: Sequence[Segment], wal_rows: pa.Table) -> str:
    """'' when ``segments`` and ``wal_rows`` together hold every (position, event_id) of ``rows``
    (ID_SCHEMA, sorted by position); else why they do not."""
    if rows.num_rows == 0:
        return ""
    first, last = rows["position"][0].as_py(), rows["position"][-1].as_py()
    in_range = pc.and_(pc.greater_equal(wal_rows["position"], first), pc.less_equal(wal_rows["position"], last))
    parts = [wal_rows.filter(in_range)]
    for segment in segments:
        if segment.first_position <= last and segment.last_position >= first:
            try:
                held = read_segment(
                    segments_dir,
                    segment,
                    columns=ID_SCHEMA.names,
                    filters=[("position", ">=", first), ("position", "<=", last)],
                )
            except CorruptSegmentError as exc:
                return f"its events cannot be compared with a damaged segment: {exc}"
            parts.append(held.select(ID_SCHEMA.names).cast(ID_SCHEMA))
    # An already-sealed WAL file holds the same rows as a segment: count each pair once.
    elsewhere = pa.concat_tables(parts).group_by(ID_SCHEMA.names).aggregate([])
    elsewhere = elsewhere.filter(pc.is_in(elsewhere["position"], rows["position"])).sort_by("position")
    if elsewhere["position"].to_pylist() != rows["position"].to_pylist():
        return "its events are in no listed segment and no WAL file"
    if not elsewhere["event_id"].equals(rows["event_id"]):
        return "it holds other events than the log at the same positions"
    return ""
