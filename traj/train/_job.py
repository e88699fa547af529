"""A training job, recorded: data from the log, metrics and the adapter back into it.

``train.started`` names the exact dataset (the action event ids, the demos, the log position
it was read at), the config and the base model's content hash; every optimizer step is a
``train.step``; the adapter is saved in PEFT and mlx-lm formats, its files stored as blobs, and
announced by ``adapter.created`` on ``adapter/<name>``: lineage from an adapter to the demos it
learned from is a join in the projections.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from traj.errors import PolicyError, TrainingError, one_line
from traj.eventlog import (
    AdapterCreated,
    DatasetSnapshot,
    NewEvent,
    Store,
    TrainCheckpoint,
    TrainFinished,
    TrainResumed,
    TrainStarted,
    TrainStep,
    new_event_id,
    resolve_store_path,
    store_relative_path,
)
from traj.train._config import SdftConfig, StepMetrics, TrainingExample, batches
from traj.train._diagnosis import KlDiagnosis, diagnose
from traj.train._parallel import launched_processes
from traj.train.sdft import SdftTrainer

if TYPE_CHECKING:
    from traj.train._sdft_mlx import MlxSdftTrainer

__all__ = ["TrainResult", "model_hash", "resume", "train"]


@dataclass(frozen=True)
class TrainResult:
    """A finished job: its id, the adapter it made, its metrics and the step-0 diagnosis."""

    job_id: str
    adapter: str
    peft_path: Path
    mlx_path: Path | None
    steps: list[StepMetrics] = field(default_factory=list)
    diagnosis: KlDiagnosis | None = None


def train(
    store: Store,
    examples: list[TrainingExample],
    *,
    model_dir: str | Path,
    config: SdftConfig | None = None,
    name: str | None = None,
    task: str | None = None,
    out_dir: str | Path | None = None,
    parent_adapter: str | None = None,
    start_from: str | Path | None = None,
    backend: str = "torch",
    on_step: Callable[[StepMetrics], None] | None = None,
) -> TrainResult:
    """Train an adapter on ``examples`` (``backend`` torch + PEFT, or mlx) and record the job as
    ``train/<job_id>``; the adapter is saved in both formats either way, and every
    ``config.checkpoint_every`` steps a checkpoint lets :func:`resume` continue a stopped job.

    Under ``torchrun`` every process calls this with the same arguments: each step's batch is
    ``batch_size`` rows per process, and only rank 0 appends events and writes the adapter.
    ``train.started`` records where the run computes (device, dtype, processes) and its
    memory budget per component.

    ``start_from`` (an adapter's name in ``store`` or a PEFT directory) starts the student at
    that adapter's weights instead of zero, to learn a new task on top of an old one; it is
    the lineage parent unless ``parent_adapter`` says otherwise.
    """
    if backend not in ("torch", "mlx"):
        raise TrainingError(f"unknown training backend {backend!r}; use torch or mlx")
    if backend == "mlx" and config is not None and config.objective == "dpo":
        raise TrainingError("the dpo objective trains with the torch backend only")
    start_path = None
    if start_from is not None:
        from traj.policy import resolve_adapter

        try:
            start_name, start_path = resolve_adapter(str(start_from), store, prefer="peft")
        except PolicyError as exc:
            raise TrainingError(str(exc)) from None
        parent_adapter = parent_adapter or start_name

    config = config or SdftConfig()
    if backend == "mlx" and (config.device, config.dtype, config.quantize) != ("auto", "auto", None):
        raise TrainingError("--device, --dtype and --quantize are the torch backend's; mlx places its model itself")
    model_dir = Path(model_dir)
    job_id = new_event_id()
    name = name or f"{task or 'adapter'}-{job_id[-12:]}"
    out = Path(out_dir) if out_dir is not None else Path(store.home) / "adapters" / name
    processes = launched_processes()
    plan = batches(examples, config, processes=processes)
    extras = {
        "steps": len(plan),
        "examples": len(examples),
        "adapter": name,
        "backend": backend,
        "processes": processes,
    }
    started = TrainStarted(
        job_id=job_id,
        objective=config.objective,
        base_model=str(model_dir),
        base_model_hash=model_hash(model_dir),
        config=config.to_dict()
        | extras
        | {
            "task": task,
            "out_dir": store_relative_path(store.home, out),
            "start_from": store_relative_path(store.home, start_path) if start_path else None,
        },
        dataset=DatasetSnapshot(
            view="decision_pairs" if config.objective == "dpo" else "sdft_examples",
            as_of_position=store.next_position,
            event_ids=[e.action_id for e in examples],
            demo_ids=sorted({e.demo_id for e in examples if e.demo_id}),
        ),
        parent_adapter=parent_adapter,
    )
    job = _Job(store, started, examples, plan, config, model_dir, backend, name, out, parent_adapter)
    return job.run(on_step=on_step)


def resume(
    store: Store,
    job_id: str | None = None,
    *,
    task: str | None = None,
    on_step: Callable[[StepMetrics], None] | None = None,
) -> TrainResult:
    """Continue a stopped job (``job_id``, or the latest unfinished one of ``task``, or of any
    task) from its last checkpoint, on the exact examples ``train.started`` recorded; the
    events continue its ``train/<job_id>`` stream and no step is recorded twice."""
    from traj.train._checkpoint import examples_of, unfinished_job

    started = unfinished_job(store, job_id, task=task)
    config = SdftConfig.from_dict(started.config)
    examples = examples_of(store, started)
    plan = batches(examples, config, processes=launched_processes())
    if len(plan) != started.config.get("steps", len(plan)):
        raise TrainingError(
            f"job {started.job_id}: its plan no longer has {started.config['steps']} steps "
            f"(it ran on {started.config.get('processes', 1)} process(es); resume it on as many)"
        )
    name = started.config.get("adapter") or f"adapter-{started.job_id[-12:]}"
    out = resolve_store_path(store.home, started.config.get("out_dir") or f"adapters/{name}")
    backend = started.config.get("backend", "torch")
    job = _Job(
        store, started, examples, plan, config, Path(started.base_model), backend, name, out, started.parent_adapter
    )
    return job.run(on_step=on_step, resuming=True)


@dataclass
class _Job:
    """One job's run loop, shared by a fresh start and a resume."""

    store: Store
    started: TrainStarted
    examples: list[TrainingExample]
    plan: list[list[TrainingExample]]
    config: SdftConfig
    model_dir: Path
    backend: str
    name: str
    out: Path
    parent_adapter: str | None

    def run(self, *, on_step: Callable[[StepMetrics], None] | None, resuming: bool = False) -> TrainResult:
        from traj.policy import mlx_to_peft, peft_to_mlx
        from traj.train._checkpoint import decode_checkpoint, encode_checkpoint, job_progress

        store, config, job_id = self.store, self.config, self.started.job_id
        stream = f"train/{job_id}"
        # built before anything is recorded: a model that cannot load, or a device that is not
        # there, is an error that leaves the log as it was
        trainer = _trainer(self.backend, self.model_dir, config, len(self.plan))
        main = trainer.parallel.main if isinstance(trainer, SdftTrainer) else True
        if not main:
            return self._follow(trainer, on_step=on_step, resuming=resuming)
        if not resuming:
            store.append(stream, [self._started_with(trainer)], expected_seq=0)
        seq = store.stream_seq(stream)
        recorded: set[int] = set()
        metrics: list[StepMetrics] = []
        done = 0
        diagnosis = None
        try:
            if self.started.config.get("start_from"):
                trainer.start_from(resolve_store_path(store.home, self.started.config["start_from"]))
            if resuming:
                progress = job_progress(store, job_id)
                recorded = progress.recorded_steps
                if progress.checkpoint is not None:
                    trainer.restore(decode_checkpoint(store.get_blob(progress.checkpoint.data.blob)))
                    resumed = TrainResumed(
                        job_id=job_id, from_step=trainer.steps_done, checkpoint=progress.checkpoint.event_id
                    )
                    seq = store.append(stream, [resumed], expected_seq=seq).next_seq
            for index in range(trainer.steps_done, len(self.plan)):
                batch = self.plan[index]
                step = trainer.step(batch)
                metrics.append(step)
                done = trainer.steps_done
                events: list[object] = []
                if index == 0 and config.objective == "sdft":
                    diagnosis = diagnose(store, trainer, batch, self.examples, step.kl, model_dir=self.model_dir)
                    events.append(diagnosis.event(job_id))
                if step.step not in recorded:  # a resumed job re-runs the steps after its checkpoint
                    events.append(_step_event(job_id, step))
                every = config.checkpoint_every
                if every and trainer.steps_done % every == 0 and trainer.steps_done < len(self.plan):
                    data = encode_checkpoint(trainer.checkpoint())
                    digest = store.put_blob(data)
                    checkpoint = TrainCheckpoint(
                        job_id=job_id, step=trainer.steps_done, blob=digest, size=len(data), backend=self.backend
                    )
                    events.append(NewEvent(data=checkpoint, blobs=(digest,)))
                if events:
                    seq = store.append(stream, events, expected_seq=seq).next_seq  # type: ignore[arg-type]
                if on_step is not None:
                    on_step(step)
            if self.backend == "mlx":
                mlx_path = trainer.save_student(self.out / "mlx")
                peft_path = mlx_to_peft(mlx_path, self.out / "peft", base_model=str(self.model_dir))
            else:
                peft_path = trainer.save_student(self.out / "peft")
                mlx_path = peft_to_mlx(peft_path, self.out / "mlx")
        except KeyboardInterrupt:
            store.append(stream, [TrainFinished(job_id=job_id, status="cancelled", steps=done)], expected_seq=seq)
            raise
        except Exception as exc:
            store.append(
                stream,
                [TrainFinished(job_id=job_id, status="failed", steps=done, error=one_line(exc))],
                expected_seq=seq,
            )
            if isinstance(exc, TrainingError):
                raise
            raise TrainingError(f"training job {job_id} failed: {one_line(exc)}") from exc
        created = [
            AdapterCreated(
                name=self.name,
                job_id=job_id,
                base_model=str(self.model_dir),
                format=fmt,  # type: ignore[arg-type]
                path=store_relative_path(store.home, path),
                files={f.name: store.put_blob(f.read_bytes()) for f in sorted(path.iterdir()) if f.is_file()},
                parent=self.parent_adapter,
            )
            for fmt, path in (("peft", peft_path), ("mlx", mlx_path))
        ]
        adapter_stream = f"adapter/{self.name}"
        store.append(
            adapter_stream,
            [NewEvent(data=event, blobs=tuple(event.files.values())) for event in created],
            expected_seq=None,  # at the end: a server may be appending adapter.loaded events to it
        )
        finished = TrainFinished(job_id=job_id, status="completed", steps=len(self.plan), adapter=self.name)
        store.append(stream, [finished], expected_seq=seq)
        if isinstance(trainer, SdftTrainer):
            trainer.parallel.barrier()  # the other ranks return once the adapter is written
        return TrainResult(job_id, self.name, peft_path, mlx_path, metrics, diagnosis)

    def _started_with(self, trainer: SdftTrainer | MlxSdftTrainer) -> TrainStarted:
        """``train.started`` with where the trainer computes and its memory budget."""
        import msgspec

        placement: dict[str, object] = {}
        if isinstance(trainer, SdftTrainer):
            placement = {
                "placement": {
                    "device": str(trainer.placement.device),
                    "dtype": trainer.placement.dtype_name,
                    "attention": trainer.model.config.get_text_config()._attn_implementation,
                    "processes": trainer.parallel.world,
                },
                "memory_budget": trainer.memory_budget,
            }
        return msgspec.structs.replace(self.started, config=self.started.config | placement)

    def _follow(
        self, trainer: SdftTrainer, *, on_step: Callable[[StepMetrics], None] | None, resuming: bool
    ) -> TrainResult:
        """A rank other than 0: the same steps (its share of each batch, the gradients summed
        with the others'), from the same checkpoint when resuming; it records nothing."""
        from traj.train._checkpoint import decode_checkpoint, job_progress

        if self.started.config.get("start_from"):
            trainer.start_from(resolve_store_path(self.store.home, self.started.config["start_from"]))
        if resuming and (checkpoint := job_progress(self.store, self.started.job_id).checkpoint) is not None:
            trainer.restore(decode_checkpoint(self.store.get_blob(checkpoint.data.blob)))
        metrics = []
        for index in range(trainer.steps_done, len(self.plan)):
            metrics.append(trainer.step(self.plan[index]))
            if on_step is not None:
                on_step(metrics[-1])
        trainer.parallel.barrier()
        peft = self.out / "peft"
        return TrainResult(self.started.job_id, self.name, peft, self.out / "mlx", metrics)


def _step_event(job_id: str, step: StepMetrics) -> TrainStep:
    return TrainStep(
        job_id=job_id,
        step=step.step,
        loss=step.loss,
        kl=None if step.kl != step.kl else step.kl,  # NaN (SFT) is no KL
        grad_norm=step.grad_norm,
        lr=step.lr,
        tokens_per_s=step.tokens_per_s,
        teacher_drift=step.teacher_drift,
        margin=step.margin,
    )


def _trainer(backend: str, model_dir: Path, config: SdftConfig, total_steps: int) -> SdftTrainer | MlxSdftTrainer:
    if backend == "mlx":
        from traj.train._sdft_mlx import MlxSdftTrainer

        return MlxSdftTrainer(model_dir, config, total_steps=total_steps)
    return SdftTrainer(model_dir, config, total_steps=total_steps)


def model_hash(model_dir: Path) -> str:
    """sha256 over the model's config and weight files (names and contents)."""
    digest = hashlib.sha256()
    files = sorted(p for p in model_dir.iterdir() if p.suffix in (".json", ".safetensors", ".bin") and p.is_file())
    if not files:
        raise TrainingError(f"no model files in {model_dir}")
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for chunk in iter(lambda handle=handle: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
