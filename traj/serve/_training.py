"""The server's training routes: uploads, datasets, jobs and their status, adapter listing and download.

- ``POST /upload_trajectory``: a demo bundle (``traj export --demo ID --tar``), imported into the
  server's store idempotently; unsafe archives get 400, oversized ones 413, nothing written.
- ``PUT /datasets/{name}``: a JSONL dataset for the local-trainer contract.
- ``POST /train``: traj's request (demos or a task of the store, hyperparameters) or the
  local-trainer contract's ``{jobId, datasetRef, runId}``; answers 202 and queues the job.
- ``GET /train/status`` (every run) and ``GET /status/{run_id}`` (one run, the contract's poll).
- ``GET /adapters`` and ``GET /adapters/{name}`` (a tar.gz, resumable with ``Range``).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from traj.errors import BundleError, BundleTooLargeError, QueueFullError, StoreError, TrainingError
from traj.eventlog import BundleLimits, Store, import_bundle
from traj.policy import Policy
from traj.serve._adapter_files import adapter_archive, adapter_records
from traj.serve._errors import ApiError
from traj.serve._jobs import TrainingQueue, TrainRun, examples_from_jsonl, new_run_id
from traj.serve._limits import NAME_PATTERN, ServeLimits

if TYPE_CHECKING:
    from traj.train import ComputeSettings

__all__ = ["TrainRequest", "TrainerJobRequest", "training_router"]

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
NameParam = Annotated[str, PathParam(pattern=NAME_PATTERN, description="Letters, digits, '.', '_', '-'.")]
_BUNDLE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
_JSONL_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


class Hyperparameters(BaseModel):
    """What a job may set: :class:`traj.train.TrainSettings`'s knobs within this server's bounds, and the task.

    The rest of SdftConfig keeps its defaults."""

    objective: Literal["sdft", "sft", "dpo"] | None = None
    """Default: sdft, or sft for a dataset without teacher prompts, or dpo for one of preference pairs."""
    steps: int | None = Field(None, ge=1)
    epochs: int = Field(2, ge=1, le=1000)
    batch_size: int = Field(4, ge=1, le=256)
    learning_rate: float = Field(1e-5, gt=0, le=1)
    rank: int = Field(16, ge=1, le=256)
    ema_alpha: float = Field(0.02, gt=0, le=1)
    divergence: Literal["reverse", "forward", "jsd"] = "forward"
    beta: float = Field(0.1, gt=0, le=100)
    """dpo: how far the adapter may move from the base model."""
    teacher_layout: Literal["rules", "appended"] | None = None
    """sdft: the demonstration after the rules (traj's, the default) or after the whole prompt (TRL's)."""
    constrain: bool | None = None
    """sdft: the student's rollouts under the page's action constraint, as the agent decodes (default on)."""
    task: str | None = Field(None, max_length=256)
    """The task the job is for (recorded with it; with demo ids unset, its demos are the data)."""


class TrainRequest(Hyperparameters):
    """traj's own request: train on demos in the server's store (all of them when none is named)."""

    model_config = ConfigDict(extra="forbid")

    demo_ids: list[Name] = Field(default_factory=list, max_length=10_000)
    unverified: bool = False
    """Also learn steps that no replay verified."""
    adapter: Name | None = None
    run_id: Name | None = None


class TrainerJobRequest(Hyperparameters):
    """The local-trainer contract: a job id, a JSONL dataset uploaded with ``PUT /datasets``, a run id."""

    model_config = ConfigDict(extra="ignore")

    jobId: str = Field(min_length=1, max_length=256)  # noqa: N815 (the contract's names)
    datasetRef: Name  # noqa: N815
    runId: Name  # noqa: N815


def training_router(
    *,
    store: Store,
    policy: Policy,
    model_dir: Path,
    train_backend: str,
    train_compute: ComputeSettings | None,
    placement: dict[str, str],
    limits: ServeLimits,
    jobs: TrainingQueue,
    cache_dir: Path,
) -> APIRouter:
    """The routes above, over ``store`` (uploads, jobs, adapters) with ``model_dir`` as the base,
    training on ``train_compute`` (resolved to ``placement``: the device and dtype runs report)."""
    router = APIRouter()
    import_lock = threading.Lock()  # two uploads of one demo must not race for the same seqs
    datasets = Path(store.home) / "datasets"
    bundle_limits = BundleLimits(max_unpacked_bytes=limits.max_unpacked_bytes, max_members=limits.max_members)

    def import_locked(path: Path) -> dict[str, Any]:
        with import_lock:
            summary = import_bundle(store, path, limits=bundle_limits, scratch_dir=cache_dir)
        return {
            "demo_ids": summary.demo_ids,
            "streams": summary.streams,
            "events": summary.events,
            "blobs": summary.blobs,
            "added_events": summary.added_events,
            "added_blobs": summary.added_blobs,
        }

    @router.post("/upload_trajectory", openapi_extra=_BUNDLE_BODY)
    async def upload_trajectory(request: Request) -> dict[str, Any]:
        path = await _spool(request, cache_dir, limits.max_upload_bytes, "bundle")
        try:
            return await run_in_threadpool(import_locked, path)
        except BundleTooLargeError as exc:
            raise ApiError(413, str(exc)) from None
        except BundleError as exc:
            raise ApiError(400, str(exc)) from None
        finally:
            path.unlink(missing_ok=True)

    @router.put("/datasets/{name}", openapi_extra=_JSONL_BODY)
    async def put_dataset(name: NameParam, request: Request) -> dict[str, Any]:
        path = await _spool(request, cache_dir, limits.max_dataset_bytes, "dataset")
        try:
            data = path.read_bytes()
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, "a dataset is UTF-8 JSON lines") from None
            datasets.mkdir(parents=True, exist_ok=True)
            path.replace(datasets / name)
        finally:
            path.unlink(missing_ok=True)
        return {"dataset_ref": name, "bytes": len(data), "rows": sum(1 for line in data.splitlines() if line.strip())}

    @router.post("/train", status_code=202)
    async def start_training(body: TrainRequest | TrainerJobRequest) -> JSONResponse:
        if body.steps is not None and body.steps > limits.max_steps:
            raise ApiError(422, f"steps: at most {limits.max_steps} (the server's limit)")
        if isinstance(body, TrainerJobRequest):
            dataset = datasets / body.datasetRef
            if not dataset.is_file():
                raise ApiError(404, f"no dataset {body.datasetRef!r}: upload it with PUT /datasets/{body.datasetRef}")
            run = TrainRun(
                run_id=body.runId, adapter=body.runId, objective=body.objective or "", steps_total=0, **placement
            )
            run.job_id = body.jobId
            examples = None
        else:
            if body.objective == "dpo":
                raise ApiError(
                    422,
                    "objective dpo trains on preference pairs, not demos: PUT them as a dataset "
                    "(prompt, chosen, rejected per line) and POST /train with its datasetRef",
                )
            try:
                examples = await run_in_threadpool(_demo_examples, store, body, model_dir)
            except TrainingError as exc:
                raise ApiError(422, str(exc)) from None
            run_id = body.run_id or new_run_id()
            adapter = body.adapter or f"{_slug(body.task) or 'adapter'}-{run_id.removeprefix('run-')}"
            objective = body.objective or "sdft"
            run = TrainRun(run_id=run_id, adapter=adapter, objective=objective, steps_total=0, **placement)
            run.steps_total = len(_batches(examples, _config(body, objective, train_compute)))
        if run.adapter in adapter_records(store):
            raise ApiError(409, f"an adapter named {run.adapter!r} exists already; pick another name")

        def trainer(after_step: Any, run: TrainRun = run, examples: Any = examples) -> Any:
            from traj.train import train

            if examples is None:
                examples, objective = examples_from_jsonl(datasets / body.datasetRef)  # type: ignore[union-attr]
                if (body.objective == "dpo") != (objective == "dpo"):
                    raise TrainingError(
                        f"objective {body.objective or objective} does not fit dataset {body.datasetRef!r}: "
                        "dpo trains on rows with prompt, chosen and rejected, the others on prompt and target"
                    )
                run.objective = body.objective or objective
            config = _config(body, run.objective, train_compute)
            run.steps_total = len(_batches(examples, config))
            return train(
                store,
                examples,
                model_dir=model_dir,
                config=config,
                name=run.adapter,
                task=body.task,
                backend=train_backend,
                on_step=lambda metrics: (run.measured(metrics), after_step()),
            )

        try:
            jobs.submit(run, trainer)
        except (QueueFullError, TrainingError) as exc:
            raise ApiError(409, str(exc)) from None
        state = await run_in_threadpool(run.to_json, store)
        return JSONResponse(state, status_code=202, headers={"Location": f"/status/{run.run_id}"})

    @router.get("/train/status")
    def train_status() -> dict[str, Any]:
        running = jobs.running()
        return {
            "running": running.to_json(store) if running else None,
            "queued": [run.run_id for run in jobs.queued()],
            "runs": [run.to_json(store) for run in jobs.runs.values()],
        }

    @router.get("/status/{run_id}")
    def run_status(run_id: NameParam) -> dict[str, Any]:
        run = jobs.runs.get(run_id)
        if run is None:
            raise ApiError(404, f"no training run {run_id!r} on this server")
        return run.to_json(store)

    @router.get("/adapters")
    def list_adapters() -> dict[str, Any]:
        loaded = set(policy.adapters)
        return {
            "adapters": [
                {
                    "name": name,
                    "formats": sorted(formats),
                    "job_id": next(iter(formats.values()))["job_id"],
                    "base_model": next(iter(formats.values()))["base_model"],
                    "loaded": name in loaded,
                    "active": name == policy.active_adapter,
                }
                for name, formats in adapter_records(store).items()
            ]
        }

    @router.get(
        "/adapters/{name}",
        response_class=FileResponse,
        responses={200: {"content": {"application/gzip": {}}}, 206: {"content": {"application/gzip": {}}}},
    )
    def download_adapter(name: NameParam) -> FileResponse:
        try:
            path, sha256 = adapter_archive(store, name, cache_dir / "downloads")
        except KeyError:
            raise ApiError(404, f"no adapter named {name!r} on this server (see GET /adapters)") from None
        except StoreError as exc:  # a file no longer matches the hash recorded at training: never send it
            raise ApiError(500, f"adapter {name!r} cannot be served: {exc}") from None
        return FileResponse(
            path,
            media_type="application/gzip",
            filename=f"{name}.tar.gz",
            headers={"ETag": f'"{sha256}"', "X-Content-SHA256": sha256},
        )

    return router


async def _spool(request: Request, directory: Path, limit: int, what: str) -> Path:
    """Stream the request body to a file under ``directory``; over ``limit`` bytes it is a 413."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the {what} is {declared} bytes; this server takes at most {limit}")
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=f".{what}-", suffix=".part")
    path = Path(name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, f"the {what} is over {limit} bytes, this server's limit")
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise ApiError(400, f"the request carries no {what} (send it as the body)")
    return path


def _demo_examples(store: Store, body: TrainRequest, model_dir: Path) -> list[Any]:
    from traj.train import training_examples

    return training_examples(
        store,
        task=body.task,
        demo_ids=list(body.demo_ids) or None,
        verified_only=not body.unverified,
        model=model_dir,
        teacher_layout=body.teacher_layout or "rules",
    )


def _config(body: Hyperparameters, objective: str, compute: ComputeSettings | None) -> Any:
    import msgspec

    from traj.train import TrainSettings, train_config

    settings = msgspec.convert(body.model_dump(include=set(TrainSettings.__struct_fields__)), TrainSettings)
    return train_config(settings, objective, compute=compute)  # type: ignore[arg-type]


def _batches(examples: list[Any], config: Any) -> list[Any]:
    from traj.train import batches

    return batches(examples, config)


def _slug(text: str | None) -> str:
    """A task as the start of an adapter name."""
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in (text or ""))[:64].strip("-._")
