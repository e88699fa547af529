"""Training on a traj server from the laptop: upload demos, train there, bring the adapter home.

:func:`train_remote` is what ``traj train --remote URL`` does: SDFT and SFT on demos uploaded as
a bundle; DPO on the preference pairs of the judged runs here, uploaded as a dataset (the
server's store need not hold the runs). The adapter is registered locally
only once it is whole: the download goes to a ``.part`` file (resumed with ``Range`` after a
dropped connection, retried with backoff), its sha256 checked against the server's and each of
its files against the hash recorded at training, unpacked with the bundle's member checks into
a scratch directory and moved into place; then its files
become blobs and ``adapter.created`` is appended. The server's ``train/<job>`` events come along
(``lineage.jsonl``), so the local projections join the adapter to the run and the demos it
learned from, exactly as for a local run.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec

from traj.errors import BundleError, ServerError, TrainingError, one_line
from traj.eventlog import (
    AdapterCreated,
    NewEvent,
    Store,
    clipped,
    export_demos,
    import_stream_lines,
    read_tar_gz,
    safe_member_name,
    store_relative_path,
)
from traj.policy import retry_delay
from traj.serve._adapter_files import archive_problem

__all__ = ["RemoteTrainResult", "TrainingClient", "train_remote"]

_ADAPTER_FILES = ("adapter.json", "lineage.jsonl")
_MAX_ADAPTER_BYTES = 16 << 30
"""Unpacked size of a downloaded adapter archive (a 12B model's LoRA factors are ~1 GB)."""
_MAX_ADAPTER_FILES = 64


@dataclass(frozen=True)
class RemoteTrainResult:
    """A finished remote run, its adapter registered in the local store."""

    run_id: str
    job_id: str
    """The server's ``train/<job_id>``, mirrored into the local log."""
    adapter: str
    peft_path: Path
    mlx_path: Path
    status: dict[str, Any]
    """The server's last ``/status`` answer."""


class TrainingClient:
    """The server's training routes over HTTP, with retries on connection errors and 5xx."""

    def __init__(
        self, server_url: str, *, token: str | None = None, timeout_s: float = 60.0, max_retries: int = 5
    ) -> None:
        """``token`` defaults to ``$TRAJ_SERVER_TOKEN``, then ``$TRAJ_TOKEN``."""
        import httpx

        self.server_url = server_url.rstrip("/")
        self.max_retries = max_retries
        token = token or os.environ.get("TRAJ_SERVER_TOKEN") or os.environ.get("TRAJ_TOKEN")
        self._client = httpx.Client(
            base_url=self.server_url,
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )

    def put_dataset(self, name: str, data: bytes) -> dict[str, Any]:
        """``PUT /datasets/{name}``: a JSONL dataset for a job of the local-trainer contract."""
        headers = {"Content-Type": "application/octet-stream"}
        return self._json("PUT", f"/datasets/{quote(name, safe='')}", content=data, headers=headers)

    def upload(self, bundle: Path) -> dict[str, Any]:
        """Send a demo bundle to ``/upload_trajectory``; the server imports it idempotently."""
        data = bundle.read_bytes()
        headers = {"Content-Type": "application/gzip"}
        return self._json("POST", "/upload_trajectory", content=data, headers=headers)

    def start(self, request: dict[str, Any]) -> dict[str, Any]:
        """``POST /train``: the run as queued."""
        return self._json("POST", "/train", json=request)

    def status(self, run_id: str) -> dict[str, Any]:
        return self._json("GET", f"/status/{quote(run_id, safe='')}")

    def wait(
        self, run_id: str, *, on_progress: Callable[[dict[str, Any]], None] | None = None, poll_s: float = 0.5
    ) -> dict[str, Any]:
        """Poll until the run completes; raises TrainingError with the server's error when it fails."""
        while True:
            state = self.status(run_id)
            if on_progress is not None:
                on_progress(state)
            if state["status"] == "completed":
                return state
            if state["status"] == "failed":
                raise TrainingError(f"remote run {run_id} failed on {self.server_url}: {state.get('error')}")
            time.sleep(poll_s)

    def download(self, name: str, dest: Path) -> Path:
        """Download adapter ``name``'s tar.gz to ``dest``, resuming a ``dest.part`` left by a dropped connection.

        The file appears at ``dest`` only whole, with the sha256 the server announced, and with
        every adapter file matching the sha256 recorded when the adapter was trained.
        """
        import httpx

        part = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        path = f"/adapters/{quote(name, safe='')}"
        for attempt in range(self.max_retries + 1):
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                with self._client.stream("GET", path, headers=headers) as response:
                    if response.status_code == 416:  # our .part is stale (the archive changed): start over
                        part.unlink()
                        continue
                    if response.status_code >= 400:
                        response.read()
                        self._raise(response, path)
                    expected = response.headers.get("x-content-sha256", "")
                    mode = "ab" if response.status_code == 206 else "wb"
                    with open(part, mode) as out:
                        for chunk in response.iter_bytes(1 << 16):
                            out.write(chunk)
            except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
                if attempt == self.max_retries:
                    raise ServerError(
                        f"downloading adapter {name!r} from {self.server_url} failed after {attempt + 1} attempts: "
                        f"{exc}; run again to resume"
                    ) from None
                time.sleep(retry_delay(attempt, first_s=0.2, max_s=5.0))
                continue
            if expected and _sha256(part) != expected:
                part.unlink()  # a resume stitched two different archives: start over
                continue
            problem = archive_problem(part)
            if problem:  # the server sent, whole, an adapter that is not the one trained: asking again won't help
                part.unlink()
                raise ServerError(f"adapter {name!r} from {self.server_url} is damaged: {problem}")
            part.replace(dest)
            return dest
        raise ServerError(f"downloading adapter {name!r} from {self.server_url} kept failing its checksum")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> TrainingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import httpx

        for attempt in range(self.max_retries + 1):
            try:
                response = self._client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self.max_retries:
                    raise ServerError(f"{self.server_url}{path}: {exc or type(exc).__name__}") from None
            else:
                if response.status_code < 500 or attempt == self.max_retries:
                    break
            time.sleep(retry_delay(attempt, first_s=0.2, max_s=5.0))
        if response.status_code >= 400:
            self._raise(response, path)
        return response.json()

    def _raise(self, response: Any, path: str) -> None:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text[:200]
        raise ServerError(f"{self.server_url}{path} answered HTTP {response.status_code}: {detail}")


def train_remote(
    store: Store,
    server_url: str,
    *,
    demo_ids: list[str] | None = None,
    task: str | None = None,
    hyperparameters: dict[str, Any] | None = None,
    name: str | None = None,
    local_model: str | Path | None = None,
    token: str | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    poll_s: float = 0.5,
) -> RemoteTrainResult:
    """Train on the server, download the adapter and register it in ``store``.

    ``hyperparameters`` are the server's (:class:`traj.serve._training.Hyperparameters`: objective,
    steps, epochs, batch_size, learning_rate, rank, ema_alpha, divergence, beta). SDFT and SFT
    learn ``demo_ids`` and the demos of ``task``, uploaded first; DPO learns the preference pairs
    (of ``task``) in this store. ``local_model`` (the base model here) is recorded and checked by
    the format conversion; the adapter lands in ``<home>/adapters/<name>/{peft,mlx}``.
    """
    hyperparameters = {**(hyperparameters or {}), "task": task}
    dpo = hyperparameters.get("objective") == "dpo"
    demos = [] if dpo else list(dict.fromkeys([*(demo_ids or []), *(_task_demos(store, task) if task else [])]))
    if not dpo and not demos:
        raise TrainingError("name the demos to train on")
    pairs = _preference_lines(store, task) if dpo else b""
    incoming = Path(store.home) / "adapters" / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    with TrainingClient(server_url, token=token) as client:
        if dpo:
            run_id = name or f"{re.sub(r'[^A-Za-z0-9._-]+', '-', task or 'dpo')[:48]}-{uuid.uuid4().hex[:8]}"
            client.put_dataset(f"{run_id}.jsonl", pairs)
            request = {"jobId": run_id, "datasetRef": f"{run_id}.jsonl", "runId": run_id, **hyperparameters}
        else:
            with tempfile.TemporaryDirectory(dir=incoming) as scratch:
                bundle = Path(scratch) / "demos.tar.gz"
                export_demos(store, demos, bundle)
                client.upload(bundle)
            request = {"demo_ids": demos, **hyperparameters}
            if name is not None:
                request["adapter"] = name
        run = client.start(request)
        state = client.wait(run["run_id"], on_progress=on_progress, poll_s=poll_s)
        adapter = state["adapter"]
        if store.stream_seq(f"adapter/{adapter}"):
            raise TrainingError(f"an adapter named {adapter!r} is already registered here; pick another --name")
        archive = client.download(adapter, incoming / f"{adapter}.tar.gz")
    peft_path, mlx_path, job_id = _install(store, archive, adapter, local_model)
    archive.unlink()
    return RemoteTrainResult(run["run_id"], job_id, adapter, peft_path, mlx_path, state)


def _task_demos(store: Store, task: str) -> list[str]:
    from traj.projections import Projections

    with Projections(store) as projections:
        rows = projections.query("SELECT demo_id FROM demos WHERE task = $task", {"task": task}).to_pylist()
    if not rows:
        raise TrainingError(f"no demonstrations of task {task!r} in {store.home} (see 'traj demos')")
    return [r["demo_id"] for r in rows]


def _preference_lines(store: Store, task: str | None) -> bytes:
    """The preference pairs (of ``task``) as the JSONL dataset a DPO job on the server reads."""
    from traj.train import preference_examples

    return b"".join(
        msgspec.json.encode({"prompt": e.query, "chosen": e.target, "rejected": e.rejected, "action_id": e.action_id})
        + b"\n"
        for e in preference_examples(store, task=task)
    )


def _install(store: Store, archive: Path, name: str, local_model: str | Path | None) -> tuple[Path, Path, str]:
    """Unpack, complete both formats, move into place, then record: never a half adapter in the log."""
    from traj.policy import mlx_to_peft, peft_to_mlx

    final = Path(store.home) / "adapters" / name
    if final.exists():
        raise TrainingError(f"{final} exists already; remove it or pick another adapter name")
    with tempfile.TemporaryDirectory(dir=archive.parent) as scratch:
        root = Path(scratch) / name
        _unpack_adapter(archive, root)
        meta = msgspec.json.decode((root / "adapter.json").read_bytes())
        base = str(local_model) if local_model is not None else None
        if not (root / "mlx").is_dir():
            peft_to_mlx(root / "peft", root / "mlx", base_model=base)
        if not (root / "peft").is_dir():
            mlx_to_peft(root / "mlx", root / "peft", base_model=base)
        lineage = root / "lineage.jsonl"
        import_stream_lines(store, lineage)  # the server's train/<job> events, ids kept
        lineage.unlink()
        root.replace(final)
    created = [
        AdapterCreated(
            name=name,
            job_id=meta["job_id"],
            base_model=str(meta.get("base_model", "")),
            format=fmt,  # type: ignore[arg-type]
            path=store_relative_path(store.home, final / fmt),
            files={f.name: store.put_blob(f.read_bytes()) for f in sorted((final / fmt).iterdir()) if f.is_file()},
        )
        for fmt in ("peft", "mlx")
    ]
    store.append(f"adapter/{name}", [NewEvent(data=e, blobs=tuple(e.files.values())) for e in created], expected_seq=0)
    return final / "peft", final / "mlx", meta["job_id"]


def _unpack_adapter(archive: Path, root: Path) -> None:
    """Extract an adapter archive, refusing what could escape ``root`` (names checked like a bundle's)."""
    root.mkdir(parents=True)
    try:
        # The bounded reader: a long-name or pax header is refused before it is read.
        for member, source in read_tar_gz(
            archive, max_unpacked_bytes=_MAX_ADAPTER_BYTES, max_members=_MAX_ADAPTER_FILES
        ):
            name = safe_member_name(member)
            parts = name.split("/")
            if member.isdir():
                continue
            if not (name in _ADAPTER_FILES or (len(parts) == 2 and parts[0] in ("peft", "mlx"))):
                raise BundleError(f"unexpected member {clipped(name)!r} in the adapter archive")
            target = root / name
            target.parent.mkdir(exist_ok=True)
            with open(target, "wb") as out:
                shutil.copyfileobj(source, out)
    except (BundleError, OSError) as exc:
        raise ServerError(f"the downloaded adapter archive {archive} is unreadable: {one_line(exc)}") from None
    if not (root / "adapter.json").is_file() or not ((root / "peft").is_dir() or (root / "mlx").is_dir()):
        raise ServerError("the downloaded adapter archive holds no adapter")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
