"""Sealed segments: immutable zstd Parquet files, listed in a manifest that is the truth.

A segment is written to a temp file, fsynced and renamed; only then is it recorded in the
manifest (itself replaced atomically), and only after that is its WAL file dropped. A file
in ``segments/`` that the manifest does not list is removed on open only when it is provably
debris of an interrupted seal or merge (see ``_layout``); anything else stops the open.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from traj.errors import CorruptSegmentError, one_line
from traj.eventlog._envelope import EVENT_SCHEMA
from traj.eventlog._fsutil import fsync_dir, write_durably

__all__ = [
    "Manifest",
    "Segment",
    "check_segment",
    "file_sha256",
    "is_plain_file_name",
    "read_manifest",
    "read_segment",
    "verify_segment",
    "write_manifest",
    "write_segment",
]

ROW_GROUP_ROWS = 128 * 1024
_MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class Segment:
    """One sealed Parquet file holding the events at positions first..last."""

    file: str
    first_position: int
    last_position: int
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """The list of sealed segments, in position order."""

    segments: tuple[Segment, ...] = ()

    @property
    def next_position(self) -> int:
        """The first global position not held by a sealed segment."""
        return self.segments[-1].last_position + 1 if self.segments else 0


def read_manifest(home: Path) -> Manifest:
    """Load ``manifest.json`` (an absent file is an empty store).

    Raises CorruptSegmentError, naming what is wrong, for anything but a manifest this module
    writes: the store must never act on a guess about which segments hold the log.
    """
    path = home / "manifest.json"
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        return Manifest()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptSegmentError(f"manifest {path} is not valid JSON: {exc}{_REPAIR_HINT}") from None
    except OSError as exc:
        raise CorruptSegmentError(f"manifest {path} cannot be read: {one_line(exc)}") from None
    problem = _manifest_problem(raw)
    if problem:
        raise CorruptSegmentError(f"manifest {path} {problem}{_REPAIR_HINT}")
    return Manifest(tuple(Segment(**entry) for entry in raw["segments"]))


_REPAIR_HINT = " (rebuild it from the segments with 'traj verify --repair')"
_FIELD_TYPES = {"file": str, "first_position": int, "last_position": int, "rows": int, "bytes": int, "sha256": str}


def _manifest_problem(raw: object) -> str:
    """What makes ``raw`` (parsed JSON) not a manifest, or '' when it is one."""
    if not isinstance(raw, dict) or set(raw) != {"format", "segments"}:
        return "is not an object of 'format' and 'segments'"
    if raw["format"] != _MANIFEST_FORMAT or isinstance(raw["format"], bool):
        return f"has unknown format {raw['format']!r}"
    if not isinstance(raw["segments"], list):
        return "has 'segments' that is not a list"
    expected_first = 0
    for k, entry in enumerate(raw["segments"]):
        if not isinstance(entry, dict) or set(entry) != set(_FIELD_TYPES):
            return f"has segment entry {k} that is not an object of {', '.join(_FIELD_TYPES)}"
        for name, kind in _FIELD_TYPES.items():
            # bool is an int subclass in Python, never a count in this file
            if not isinstance(entry[name], kind) or isinstance(entry[name], bool):
                return f"has segment entry {k} whose {name} is not a {kind.__name__}: {entry[name]!r}"
        file, first, last = entry["file"], entry["first_position"], entry["last_position"]
        if not is_plain_file_name(file):
            return f"has segment entry {k} whose file {file!r} is not a file name inside segments/"
        if first != expected_first or last < first or entry["rows"] != last - first + 1 or entry["bytes"] < 0:
            return (
                f"has segment entry {k} ({file}) holding positions {first}..{last} in {entry['rows']} rows "
                f"where the log continues at {expected_first}"
            )
        expected_first = last + 1
    return ""


def is_plain_file_name(name: str) -> bool:
    """A name that stays inside its directory: no separator, not hidden, not '.' or '..'."""
    return bool(name) and "/" not in name and "\\" not in name and "\0" not in name and not name.startswith(".")


def write_manifest(home: Path, manifest: Manifest) -> None:
    """Replace the manifest atomically and durably."""
    body = {"format": _MANIFEST_FORMAT, "segments": [asdict(s) for s in manifest.segments]}
    write_durably(home / "manifest.json", json.dumps(body, indent=1).encode())


def write_segment(directory: Path, table: pa.Table) -> Segment:
    """Write ``table`` (EVENT_SCHEMA rows, position order) as a durable Parquet segment."""
    first = table.column("position")[0].as_py()
    last = table.column("position")[-1].as_py()
    name = f"{first:020d}-{last:020d}.parquet"
    tmp = directory / f".{name}.tmp"
    pq.write_table(
        table,
        tmp,
        compression="zstd",
        row_group_size=ROW_GROUP_ROWS,
        write_page_checksum=True,
        sorting_columns=[pq.SortingColumn(0)],
    )
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    digest = file_sha256(tmp)
    size = tmp.stat().st_size
    tmp.replace(directory / name)
    fsync_dir(directory)
    return Segment(name, first, last, table.num_rows, size, digest)


def file_sha256(path: Path) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_segment(directory: Path, segment: Segment) -> str:
    """Open-time check: size, sha256 of the whole file and footer; '' when healthy, else the problem.

    Hashing runs at about 1.3 GB/s, a small price on open for never appending on top of (or
    serving data from) a segment that rotted in the middle, where a footer check sees nothing.
    """
    path = directory / segment.file
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"segment {segment.file} is missing"
    if size != segment.bytes:
        return f"segment {segment.file} is {size} bytes, the manifest says {segment.bytes}"
    if file_sha256(path) != segment.sha256:
        return f"segment {segment.file} fails its sha256 checksum"
    try:
        metadata = pq.read_metadata(path)
    except (pa.ArrowInvalid, OSError) as exc:
        return f"segment {segment.file} has an unreadable footer: {one_line(exc)}"
    if metadata.num_rows != segment.rows:
        return f"segment {segment.file} has {metadata.num_rows} rows, the manifest says {segment.rows}"
    return ""


def verify_segment(directory: Path, segment: Segment) -> str:
    """Full check: the open-time check, then every page checksum and the position range; '' when healthy."""
    problem = check_segment(directory, segment)
    if problem:
        return problem
    try:
        table = read_segment(directory, segment)
    except CorruptSegmentError as exc:
        return str(exc)
    positions = table.column("position")
    if positions[0].as_py() != segment.first_position or positions[-1].as_py() != segment.last_position:
        return f"segment {segment.file} holds positions other than the manifest's"
    return ""


def read_segment(
    directory: Path,
    segment: Segment,
    columns: list[str] | None = None,
    filters: list[tuple[str, str, object]] | None = None,
) -> pa.Table:
    """Read a segment (optionally some columns / rows), translating damage into CorruptSegmentError."""
    path = directory / segment.file
    try:
        return pq.read_table(
            path,
            columns=columns,
            filters=filters or None,
            schema=EVENT_SCHEMA if columns is None else None,
            page_checksum_verification=True,
        )
    except FileNotFoundError:
        raise
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        raise CorruptSegmentError(f"segment {segment.file} is damaged: {one_line(exc)}") from None
