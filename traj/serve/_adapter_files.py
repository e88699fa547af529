"""Adapters as the server knows them (``adapter.created`` events) and as it hands them out.

The download is a tar.gz built from the adapter's blobs, deterministic (fixed times, sorted
names, no file name in the gzip header), so its bytes and sha256 are the same after a server
restart and an interrupted download can resume from where it stopped::

    adapter.json        {"name", "job_id", "base_model", "formats", "files": {format: {file: sha256}}}
    peft/<file>         the PEFT adapter
    mlx/<file>          the mlx-lm adapter
    lineage.jsonl       the server's ``train/<job_id>`` events (bundle event lines)

``files`` are the hashes recorded when the adapter was trained: the server builds the archive
only from blobs that still match them, and :func:`archive_problem` lets the client check what
it received against them, end to end.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import msgspec

from traj.eventlog import Store, resolve_store_path, stream_lines

__all__ = ["adapter_archive", "adapter_records", "archive_problem"]

_FORMATS = ("peft", "mlx")


class _ArchiveMeta(msgspec.Struct):
    """The part of ``adapter.json`` the client checks; other keys are ignored."""

    files: dict[str, dict[str, str]] | None = None

    def members(self) -> dict[str, str] | None:
        """Archive member (``peft/<file>``) -> recorded sha256; None when the server recorded none."""
        if self.files is None:
            return None
        return {f"{fmt}/{name}": digest for fmt, files in self.files.items() for name, digest in files.items()}


def adapter_records(store: Store) -> dict[str, dict[str, dict[str, Any]]]:
    """Adapter name -> format -> its latest ``adapter.created`` payload, in creation order.

    Each payload's ``path`` is where the adapter's directory is in this store now (recorded
    relative to the store, or absolute by older versions; see :func:`resolve_store_path`).
    """
    table = store.read(types=["adapter.created"], columns=["data"])
    adapters: dict[str, dict[str, dict[str, Any]]] = {}
    for data in table["data"].to_pylist():
        payload = msgspec.json.decode(data)
        if payload.get("path"):
            payload["path"] = str(resolve_store_path(store.home, payload["path"]))
        adapters.setdefault(payload["name"], {})[payload["format"]] = payload
    return adapters


def adapter_archive(store: Store, name: str, cache_dir: Path) -> tuple[Path, str]:
    """The tar.gz of adapter ``name`` (built once into ``cache_dir``) and its sha256.

    Raises KeyError when the store has no adapter of that name, CorruptBlobError (or
    BlobNotFoundError) when one of its files no longer matches the hash recorded at training.
    A cached archive is served only while its bytes still hash to the sha256 in its name.
    """
    formats = adapter_records(store)[name]
    first = next(iter(formats.values()))
    meta = {
        "name": name,
        "job_id": first["job_id"],
        "base_model": first["base_model"],
        "formats": sorted(formats),
        "files": {fmt: formats[fmt]["files"] for fmt in sorted(formats)},
    }
    lineage = stream_lines(store, [f"train/{first['job_id']}"])
    inline = {"adapter.json": msgspec.json.encode(meta), "lineage.jsonl": lineage}
    blobs = {f"{fmt}/{file}": digest for fmt, files in meta["files"].items() for file, digest in sorted(files.items())}
    order = ["adapter.json", *blobs, "lineage.jsonl"]
    digests = {member: hashlib.sha256(data).hexdigest() for member, data in inline.items()} | blobs
    key = hashlib.sha256("".join(f"{m}\0{digests[m]}\0" for m in order).encode()).hexdigest()[:16]
    prefix = f"{name}-{key}-"
    if cache_dir.is_dir():
        for cached in sorted(cache_dir.glob(f"{glob.escape(prefix)}*.tar.gz")):
            sha256 = cached.name.removeprefix(prefix).removesuffix(".tar.gz")
            if _sha256(cached) == sha256:
                return cached, sha256
            cached.unlink(missing_ok=True)  # damaged where it waited: build it again
    cache_dir.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{prefix}", suffix=".tmp")  # one per request
    tmp = Path(tmp_name)
    try:
        # filename="": gzip would otherwise record the temp file's name and the bytes would differ per build
        with (
            os.fdopen(handle, "wb") as out,
            gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0) as zipped,
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for member in order:
                if member in inline:
                    _add(tar, member, len(inline[member]), io.BytesIO(inline[member]))
                else:
                    with store.blobs.open(blobs[member]) as reader:  # checked against its hash as it streams
                        _add(tar, member, reader.size, reader)
        sha256 = _sha256(tmp)
        path = cache_dir / f"{prefix}{sha256}.tar.gz"
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path, sha256


def archive_problem(archive: Path) -> str:
    """'' when every adapter file in ``archive`` has the sha256 its ``adapter.json`` recorded, else the first problem.

    Archives from servers that predate the recorded hashes (no ``files``) have nothing to compare.
    """
    recorded: dict[str, str] | None = None
    found: dict[str, str] = {}
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                source = tar.extractfile(member) if member.isfile() else None
                if source is None:
                    continue
                if member.name == "adapter.json":
                    recorded = msgspec.json.decode(source.read(), type=_ArchiveMeta).members()
                elif member.name.split("/", 1)[0] in _FORMATS:
                    found[member.name] = _sha256_of(source)
    except (tarfile.TarError, EOFError, OSError, msgspec.DecodeError) as exc:
        return f"the adapter archive is unreadable: {type(exc).__name__}: {exc}"
    if recorded is None:
        return ""
    for member in sorted(recorded.keys() | found.keys()):
        if member not in found:
            return f"{member}, recorded at training, is missing from the adapter archive"
        if member not in recorded:
            return f"{member} in the adapter archive is not among the files recorded at training"
        if found[member] != recorded[member]:
            return f"{member} has sha256 {found[member]}, not the {recorded[member]} recorded at training"
    return ""


def _add(tar: tarfile.TarFile, member: str, size: int, source: Any) -> None:
    info = tarfile.TarInfo(member)
    info.size, info.mode, info.mtime = size, 0o644, 0
    tar.addfile(info, source)


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return _sha256_of(handle)


def _sha256_of(handle: Any) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()
