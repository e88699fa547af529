"""Adapters as the server knows them (``adapter.created`` events) and as it hands them out.

The download is a tar.gz built from the adapter's blobs, deterministic (fixed times, sorted
names), so its bytes and sha256 are the same after a server restart and an interrupted
download can resume from where it stopped::

    adapter.json        {"name", "job_id", "base_model", "formats"}
    peft/<file>         the PEFT adapter
    mlx/<file>          the mlx-lm adapter
    lineage.jsonl       the server's ``train/<job_id>`` events (bundle event lines)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import Any

import msgspec

from traj.eventlog import Store
from traj.eventlog._bundle import stream_lines

__all__ = ["adapter_archive", "adapter_records"]


def adapter_records(store: Store) -> dict[str, dict[str, dict[str, Any]]]:
    """Adapter name -> format -> its latest ``adapter.created`` payload, in creation order."""
    table = store.read(types=["adapter.created"], columns=["data"])
    adapters: dict[str, dict[str, dict[str, Any]]] = {}
    for data in table["data"].to_pylist():
        payload = msgspec.json.decode(data)
        adapters.setdefault(payload["name"], {})[payload["format"]] = payload
    return adapters


def adapter_archive(store: Store, name: str, cache_dir: Path) -> tuple[Path, str]:
    """The tar.gz of adapter ``name`` (built once into ``cache_dir``) and its sha256.

    Raises KeyError when the store has no adapter of that name.
    """
    formats = adapter_records(store)[name]
    first = next(iter(formats.values()))
    members: list[tuple[str, bytes]] = [
        (
            "adapter.json",
            msgspec.json.encode(
                {
                    "name": name,
                    "job_id": first["job_id"],
                    "base_model": first["base_model"],
                    "formats": sorted(formats),
                }
            ),
        )
    ]
    for fmt in sorted(formats):
        for file_name, digest in sorted(formats[fmt]["files"].items()):
            members.append((f"{fmt}/{file_name}", store.get_blob(digest)))
    members.append(("lineage.jsonl", stream_lines(store, [f"train/{first['job_id']}"])))
    key = hashlib.sha256(b"".join(n.encode() + hashlib.sha256(d).digest() for n, d in members)).hexdigest()[:16]
    path = cache_dir / f"{name}-{key}.tar.gz"
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        with (
            gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for member, data in members:
                info = tarfile.TarInfo(member)
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tar.addfile(info, io.BytesIO(data))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(path)
    return path, _sha256(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
