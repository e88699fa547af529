"""Demo bundles: demonstrations' events and blobs in one tar.gz, to move them between stores.

A laptop records; a GPU box trains. A bundle carries every stream about the chosen demos, whole
(``demo/<id>``, ``enrich/<id>``, ``feedback/demo/<id>`` and each ``replay/<rid>`` of the
demo), so training on the other side sees the same verified steps and enrichments::

    bundle.json      {"format": "traj-bundle", "version": 1, "demos": [...], "events": N, "blobs": N}
    events.jsonl     one event a line in log order: event_id, stream, seq, type, v, data, blobs
    blobs/<sha256>   every blob an event references

Import keeps the original event ids and seqs, so importing the same bundle twice adds nothing,
and a bundle exported later (the demo replayed again) adds only what is new. An archive is
hostile until proven otherwise: it is unpacked into a scratch directory with its names, member
types, sizes (headers included), member count and blob hashes checked, then every event is
validated and every stream checked against the store as an append would check it, and only
then is anything written (blobs first, then every stream's events in one all-or-nothing
``Store.append_many``), so a bundle that fails writes no event.
Error messages cut what they quote of the bundle (:func:`clipped`): a name may be 64 KiB long.

An export is byte-identical for the same demos of the same log: gzip without a file name and
with mtime 0, members in a fixed order with fixed times, owners and modes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from traj.errors import BundleError, BundleTooLargeError, StoreError
from traj.eventlog._envelope import NewEvent, validate_stream_name
from traj.eventlog._fsutil import fsync_dir
from traj.eventlog._store import Store
from traj.eventlog._tar import read_tar_gz

__all__ = [
    "BundleLimits",
    "BundleSummary",
    "clipped",
    "export_demos",
    "import_bundle",
    "import_stream_lines",
    "safe_member_name",
    "stream_lines",
]

FORMAT = "traj-bundle"
VERSION = 1
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class BundleLimits:
    """What an imported bundle may hold; over a limit it is refused with BundleTooLargeError."""

    max_unpacked_bytes: int = 1 << 30
    """The archive's size after decompression, headers included (the decompression-bomb cap)."""
    max_members: int = 200_000
    """Files in the archive (events.jsonl, bundle.json and one per blob)."""
    max_line_bytes: int = 64 << 20
    """One line of events.jsonl (one event), and bundle.json: refused before either is read whole."""


@dataclass(frozen=True)
class BundleSummary:
    """What a bundle holds and, after an import, what of it was new to the store."""

    demo_ids: list[str]
    streams: int
    events: int
    blobs: int
    added_events: int = 0
    added_blobs: int = 0
    stream_names: list[str] = field(default_factory=list)


class _Line(msgspec.Struct, forbid_unknown_fields=True):
    event_id: str
    stream: str
    seq: int
    type: str
    v: int
    data: msgspec.Raw
    blobs: list[str] = []


class _Manifest(msgspec.Struct):
    format: str
    version: int
    demos: list[str]


def export_demos(store: Store, demo_ids: Iterable[str], dest: str | os.PathLike[str]) -> BundleSummary:
    """Write the chosen demos' streams and blobs to the tar.gz ``dest`` (atomically).

    The archive is deterministic: the same demos of the same log give the same bytes, whatever
    the file's name or the order the demos are named in. Raises BundleError when a demo is not
    in the store.
    """
    wanted = sorted(set(demo_ids))
    if not wanted:
        raise BundleError("name at least one demo to export")
    table = store.read(columns=["event_id", "stream", "seq", "type", "v", "data", "blobs"])
    rows = table.to_pylist()
    present = {r["stream"] for r in rows}
    missing = [d for d in wanted if f"demo/{d}" not in present]
    if missing:
        raise BundleError(f"no demo {clipped(', '.join(missing))} in {store.home} (see 'traj demos')")
    streams = _demo_streams(rows, set(wanted)) & present
    chosen = [r for r in rows if r["stream"] in streams]
    digests = sorted({d for r in chosen for d in r["blobs"]})
    lines = _encode_lines(chosen)
    manifest = msgspec.json.encode(
        {"format": FORMAT, "version": VERSION, "demos": wanted, "events": len(chosen), "blobs": len(digests)}
    )
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        # filename="": gzip would otherwise record the temporary file's name (with our pid).
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as zipped:
            with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
                _add(tar, "bundle.json", manifest)
                _add(tar, "events.jsonl", lines)
                for digest in digests:
                    _add(tar, f"blobs/{digest}", store.get_blob(digest))
            zipped.close()
            raw.flush()
            os.fsync(raw.fileno())
        tmp.replace(dest)
        fsync_dir(dest.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return BundleSummary(wanted, len(streams), len(chosen), len(digests), stream_names=sorted(streams))


def import_bundle(
    store: Store,
    source: str | os.PathLike[str],
    *,
    limits: BundleLimits | None = None,
    scratch_dir: str | os.PathLike[str] | None = None,
) -> BundleSummary:
    """Import the bundle at ``source`` into ``store``; re-importing it adds nothing.

    Raises BundleError (BundleTooLargeError over ``limits``) with no event written when the
    archive is unsafe or malformed: a member with an absolute path or ``..``, a link, a
    device, an unexpected name, a blob whose content does not match its name, an event that
    does not validate, an event id used twice, or events that contradict what the store
    already holds. ``scratch_dir`` is where it is unpacked first (default: the system's temp
    directory).
    """
    limits = limits or BundleLimits()
    with tempfile.TemporaryDirectory(dir=scratch_dir, prefix="traj-bundle-") as scratch:
        root = Path(scratch)
        names = _unpack(Path(source), root, limits)
        if "bundle.json" not in names or "events.jsonl" not in names:
            raise BundleError("not a traj bundle: bundle.json or events.jsonl is missing")
        if (root / "bundle.json").stat().st_size > limits.max_line_bytes:
            raise BundleTooLargeError(f"bundle.json is over the limit of {limits.max_line_bytes:,} bytes")
        manifest = _decode(_Manifest, (root / "bundle.json").read_bytes(), "bundle.json")
        if manifest.format != FORMAT or manifest.version != VERSION:
            raise BundleError(
                f"unsupported bundle {clipped(manifest.format)!r} v{manifest.version}; this traj reads v{VERSION}"
            )
        in_bundle = {name.removeprefix("blobs/") for name in names if name.startswith("blobs/")}
        plan = _plan(store, _read_events(root / "events.jsonl", in_bundle, store, limits.max_line_bytes))
        added_blobs = 0
        for digest in sorted(in_bundle):
            new = not store.blobs.exists(digest)
            if new or store.blobs.check(digest):  # absent, or damaged here: the bundle's copy heals it
                store.put_blob((root / "blobs" / digest).read_bytes())
                added_blobs += new
        added_events = _apply(store, plan)
    total = sum(start + len(events) for start, events in plan.values())
    return BundleSummary(
        manifest.demos, len(plan), total, len(in_bundle), added_events, added_blobs, stream_names=sorted(plan)
    )


def stream_lines(store: Store, streams: Iterable[str]) -> bytes:
    """Whole streams as bundle event lines (``events.jsonl``), for carrying them elsewhere."""
    rows = []
    columns = ["event_id", "stream", "seq", "type", "v", "data", "blobs"]
    for stream in streams:
        rows += store.read(stream=stream, columns=columns).to_pylist()
    return _encode_lines(rows)


def import_stream_lines(store: Store, path: str | os.PathLike[str]) -> int:
    """Append the events of a file written by :func:`stream_lines` that ``store`` lacks; returns how many.

    Their blobs must already be in the store. Raises BundleError, with nothing written, when a
    line does not validate or contradicts the store.
    """
    lines = _read_events(Path(path), set(), store, BundleLimits().max_line_bytes)
    return _apply(store, _plan(store, lines))


# ---------------------------------------------------------------------------- exporting


def _encode_lines(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(
        msgspec.json.encode(
            _Line(r["event_id"], r["stream"], r["seq"], r["type"], r["v"], msgspec.Raw(r["data"]), list(r["blobs"]))
        )
        + b"\n"
        for r in rows
    )


def _demo_streams(rows: list[dict[str, Any]], demo_ids: set[str]) -> set[str]:
    """The streams that are about the demos: their own, enrichment, feedback and replays."""
    streams = {f"{prefix}{d}" for d in demo_ids for prefix in ("demo/", "enrich/", "feedback/demo/")}
    for row in rows:
        if row["type"] == "replay.started" and msgspec.json.decode(row["data"]).get("demo_id") in demo_ids:
            streams.add(row["stream"])
    return streams


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


# ---------------------------------------------------------------------------- importing


def _unpack(source: Path, root: Path, limits: BundleLimits) -> set[str]:
    """Copy the archive's files under ``root`` after checking each member; returns their names."""
    names: set[str] = set()
    (root / "blobs").mkdir()
    members = read_tar_gz(source, max_unpacked_bytes=limits.max_unpacked_bytes, max_members=limits.max_members)
    for member, data in members:
        name = safe_member_name(member)
        if member.isdir():
            if name != "blobs":
                raise BundleError(f"unexpected directory {clipped(member.name)!r} in the bundle")
            continue
        if name in names:
            raise BundleError(f"member {clipped(name)!r} appears twice in the bundle")
        names.add(name)
        _copy(data, name, root)
    return names


def safe_member_name(member: tarfile.TarInfo) -> str:
    """The member's normalised name; raises BundleError for anything that could escape or is not a file.

    Absolute paths, ``..``, backslashes, symbolic and hard links, devices and fifos are refused.
    """
    raw = member.name
    shown = repr(clipped(raw))
    path = PurePosixPath(raw)
    if path.is_absolute() or raw.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", raw):
        raise BundleError(f"unsafe member {shown}: absolute path")
    if ".." in path.parts or "\\" in raw:
        raise BundleError(f"unsafe member {shown}: path traversal")
    if member.issym():
        raise BundleError(f"unsafe member {shown}: symbolic link")
    if member.islnk():
        raise BundleError(f"unsafe member {shown}: hard link")
    if member.isdev():
        raise BundleError(f"unsafe member {shown}: device or fifo")
    if not (member.isreg() or member.isdir()):
        raise BundleError(f"unsafe member {shown}: not a regular file")
    return "/".join(part for part in path.parts if part != ".")


def _copy(source: io.RawIOBase, name: str, root: Path) -> None:
    """Write one member under ``root``, checking a blob's content against its name as it streams."""
    digest = name.removeprefix("blobs/") if name.startswith("blobs/") else None
    if name not in ("bundle.json", "events.jsonl") and not (digest and _SHA256_RE.fullmatch(digest)):
        raise BundleError(
            f"unexpected member {clipped(name)!r}: a bundle holds bundle.json, events.jsonl and blobs/<sha256>"
        )
    hasher = hashlib.sha256()
    with open(root / name, "wb") as out:
        while chunk := source.read(_CHUNK):
            hasher.update(chunk)
            out.write(chunk)
    if digest is not None and hasher.hexdigest() != digest:
        raise BundleError(f"blob {digest} in the bundle is damaged (its content hash differs)")


def _read_events(path: Path, in_bundle: set[str], store: Store, max_line_bytes: int) -> list[tuple[str, int, NewEvent]]:
    """Every event line validated as the store would, with its blobs present somewhere.

    A line is read at most ``max_line_bytes`` (and its newline) at a time: one line of a
    gigabyte, within the archive's limit, would otherwise be read whole and decoded, at
    several times its size in memory.
    """
    events: list[tuple[str, int, NewEvent]] = []
    with open(path, "rb") as lines:
        for number, line in enumerate(iter(lambda: lines.readline(max_line_bytes + 1), b""), start=1):
            if len(line) > max_line_bytes and not line.endswith(b"\n"):
                raise BundleTooLargeError(
                    f"events.jsonl line {number} is over the limit of {max_line_bytes:,} bytes for one event"
                )
            if not line.strip():
                continue
            where = f"events.jsonl line {number}"
            item = _decode(_Line, line, where)
            try:
                event = NewEvent.parse(item.type, bytes(item.data), v=item.v, event_id=item.event_id, blobs=item.blobs)
            except StoreError as exc:
                raise BundleError(f"{where}: {clipped(str(exc), 300)}") from None
            absent = [d for d in event.blobs if d not in in_bundle and not store.blobs.exists(d)]
            if absent:
                raise BundleError(f"{where}: blob {absent[0]} is neither in the bundle nor in the store")
            events.append((item.stream, item.seq, event))
    return events


def _plan(store: Store, events: list[tuple[str, int, NewEvent]]) -> dict[str, tuple[int, list[NewEvent]]]:
    """Per stream: the seq to append at and the events the store does not hold yet.

    Everything an append would refuse is checked here, for every stream, before the first one
    is written: stream names, seqs, event ids repeated in the bundle or already in the store
    elsewhere. Streams travel whole, so a bundle's stream is seqs 0..n-1; what the store already
    holds of it must be the same events, in the same places.
    """
    by_stream: dict[str, list[tuple[int, NewEvent]]] = {}
    seen: dict[str, str] = {}
    for stream, seq, event in events:
        try:
            validate_stream_name(stream)
        except StoreError as exc:
            raise BundleError(f"{clipped(str(exc), 300)}; nothing was imported") from None
        where = f"{stream}#{seq}"
        if event.event_id in seen:
            raise BundleError(
                f"event {event.event_id} appears twice in the bundle ({seen[event.event_id]} and {where}); "
                "nothing was imported"
            )
        seen[event.event_id] = where
        by_stream.setdefault(stream, []).append((seq, event))
    log = store.read(columns=["event_id", "stream"])  # one pass over the log for every check below
    held: dict[str, list[str]] = {stream: [] for stream in by_stream}
    mine = log.filter(pc.is_in(log["stream"], value_set=pa.array(list(by_stream), pa.string())))
    for event_id, stream in zip(mine["event_id"].to_pylist(), mine["stream"].to_pylist(), strict=True):
        held[stream].append(event_id)
    plan: dict[str, tuple[int, list[NewEvent]]] = {}
    for stream, items in by_stream.items():
        if [seq for seq, _ in items] != list(range(len(items))):
            raise BundleError(
                f"stream {stream} in the bundle is not whole (its seqs must run 0, 1, 2, ...); nothing was imported"
            )
        overlap = min(len(held[stream]), len(items))
        if held[stream][:overlap] != [event.event_id for _, event in items[:overlap]]:
            raise BundleError(f"stream {stream} already holds other events than the bundle's; nothing was imported")
        plan[stream] = (len(held[stream]), [event for _, event in items[len(held[stream]) :]])
    new_ids = pa.array([event.event_id for _, new in plan.values() for event in new], pa.string())
    elsewhere = log["event_id"].filter(pc.is_in(log["event_id"], value_set=new_ids))
    if len(elsewhere):
        first = elsewhere[0].as_py()
        raise BundleError(
            f"event {first} of the bundle ({seen[first]}) is already in the store in another place; "
            "nothing was imported"
        )
    return plan


def _apply(store: Store, plan: dict[str, tuple[int, list[NewEvent]]]) -> int:
    """Append every stream's new events in one ``append_many``, as :func:`_plan` checked them: all or none.

    What can still fail is outside the bundle: another writer appending to one of its streams
    since the plan (a ConflictError), or the disk. Either way no stream of it is appended, so
    importing the bundle again starts from the store as it was.
    """
    appends = [(stream, events, start) for stream, (start, events) in plan.items() if events]
    if not appends:
        return 0
    try:
        store.append_many(appends)
    except StoreError as exc:
        raise BundleError(f"importing the bundle failed: {clipped(str(exc), 300)}; nothing was imported") from None
    return sum(len(events) for _, events, _ in appends)


def clipped(text: str, limit: int = 100) -> str:
    """``text`` cut to ``limit`` characters: what an error quotes of untrusted input stays short."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _decode(kind: type[Any], data: bytes, where: str) -> Any:
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        raise BundleError(f"{where} is malformed: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BundleError(f"{where} is not valid JSON: {exc}") from None
