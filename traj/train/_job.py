"""A training job, recorded: data from the log, metrics and the adapter back into it.

``train.started`` names the exact dataset (the action event ids, the demos, the log position
it was read at), the config and the base model's content hash; every optimizer step is a
``train.step``; the adapter is saved in PEFT and mlx-lm formats, its files stored as blobs, and
announced by ``adapter.created`` on ``adapter/<name>``: lineage from an adapter to the demos it
learned from is a join in the projections.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from traj.errors import TrainingError, one_line
from traj.eventlog import (
    AdapterCreated,
    DatasetSnapshot,
    NewEvent,
    Store,
    TrainFinished,
    TrainStarted,
    TrainStep,
    new_event_id,
)
from traj.train.sdft import SdftConfig, SdftTrainer, StepMetrics, TrainingExample, batches

if TYPE_CHECKING:
    from traj.train._sdft_mlx import MlxSdftTrainer

__all__ = ["KlDiagnosis", "TrainResult", "model_hash", "train", "training_examples"]

NEAR_ZERO_KL = 1e-3


@dataclass(frozen=True)
class KlDiagnosis:
    """Why the step-0 KL is what it is: the numbers behind the usual causes."""

    kl: float
    enriched_share: float
    """Share of the examples whose teacher context carries an enrichment."""
    teacher_accuracy: float
    """Next-action exact match of the demonstration-conditioned teacher on the first batch."""
    student_accuracy: float
    """The same for the bare student."""
    ema_alpha: float

    @property
    def near_zero(self) -> bool:
        return self.kl < NEAR_ZERO_KL

    def warning(self) -> str | None:
        """The warning to print when the teacher has nothing to teach, naming the likely causes."""
        if not self.near_zero:
            return None
        causes = [
            f"weak or missing enrichment: {self.enriched_share:.0%} of the steps are enriched (run 'traj enrich')",
            f"in-context learning too weak for this model: the teacher matches the demonstrated action "
            f"{self.teacher_accuracy:.0%} of the time vs the student's {self.student_accuracy:.0%}",
            f"EMA alpha {self.ema_alpha} too low for the teacher to follow (0.1-0.3 for 5-10 demonstrations)",
        ]
        return (
            f"KL at step 0 is {self.kl:.2e}, near zero: the teacher barely differs from the student. Likely causes:\n"
            + "\n".join(f"  - {cause}" for cause in causes)
        )


@dataclass(frozen=True)
class TrainResult:
    """A finished job: its id, the adapter it made, its metrics and the step-0 diagnosis."""

    job_id: str
    adapter: str
    peft_path: Path
    mlx_path: Path | None
    steps: list[StepMetrics] = field(default_factory=list)
    diagnosis: KlDiagnosis | None = None


def training_examples(
    store: Store, *, task: str | None = None, demo_ids: list[str] | None = None, verified_only: bool = True
) -> list[TrainingExample]:
    """The decisions of the chosen demos (all demos when neither ``task`` nor ``demo_ids``)."""
    from traj.replay import sdft_items

    wanted = set(demo_ids or [])
    if task is not None:
        from traj.projections import Projections

        with Projections(store) as projections:
            rows = projections.query("SELECT demo_id FROM demos WHERE task = $task", {"task": task}).to_pylist()
        wanted |= {r["demo_id"] for r in rows}
        if not wanted:
            raise TrainingError(f"no demonstrations of task {task!r} in {store.home} (see 'traj demos')")
    examples = [
        TrainingExample(
            query=item.query,
            teacher_query=item.teacher_query,
            target=item.target,
            action_id=item.action_id,
            demo_id=item.demo_id,
            enriched=item.context_source == "enrichment",
        )
        for item in sdft_items(store, verified_only=verified_only)
        if not wanted or item.demo_id in wanted
    ]
    if not examples:
        hint = (
            " (no replay verified their steps: run 'traj replay DEMO' first, or train unverified)"
            if verified_only
            else ""
        )
        raise TrainingError(f"no training examples in the chosen demonstrations{hint}")
    return examples


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
    backend: str = "torch",
    on_step: Callable[[StepMetrics], None] | None = None,
) -> TrainResult:
    """Train an adapter on ``examples`` (``backend`` torch + PEFT, or mlx) and record the job as
    ``train/<job_id>``; the adapter is saved in both formats either way."""
    from traj.policy._adapter_formats import mlx_to_peft, peft_to_mlx

    if backend not in ("torch", "mlx"):
        raise TrainingError(f"unknown training backend {backend!r}; use torch or mlx")
    if backend == "mlx" and config is not None and config.objective == "dpo":
        raise TrainingError("the dpo objective trains with the torch backend only")

    config = config or SdftConfig()
    model_dir = Path(model_dir)
    job_id = new_event_id()
    name = name or f"{task or 'adapter'}-{job_id[-12:]}"
    out = Path(out_dir) if out_dir is not None else Path(store.home) / "adapters" / name
    plan = batches(examples, config)
    stream = f"train/{job_id}"
    started = TrainStarted(
        job_id=job_id,
        objective=config.objective,
        base_model=str(model_dir),
        base_model_hash=model_hash(model_dir),
        config=config.to_dict() | {"steps": len(plan), "examples": len(examples), "adapter": name, "backend": backend},
        dataset=DatasetSnapshot(
            view="decision_pairs" if config.objective == "dpo" else "sdft_examples",
            as_of_position=store.next_position,
            event_ids=[e.action_id for e in examples],
            demo_ids=sorted({e.demo_id for e in examples if e.demo_id}),
        ),
        parent_adapter=parent_adapter,
    )
    seq = store.append(stream, [started], expected_seq=0).next_seq
    metrics: list[StepMetrics] = []
    diagnosis = None
    try:
        trainer = _trainer(backend, model_dir, config, len(plan))
        for index, batch in enumerate(plan):
            step = trainer.step(batch)
            metrics.append(step)
            if index == 0 and config.objective == "sdft":
                diagnosis = _diagnose(trainer, batch, examples, step.kl)
            event = TrainStep(
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
            seq = store.append(stream, [event], expected_seq=seq).next_seq
            if on_step is not None:
                on_step(step)
        if backend == "mlx":
            mlx_path = trainer.save_student(out / "mlx")
            peft_path = mlx_to_peft(mlx_path, out / "peft", base_model=str(model_dir))
        else:
            peft_path = trainer.save_student(out / "peft")
            mlx_path = peft_to_mlx(peft_path, out / "mlx")
    except Exception as exc:
        store.append(
            stream,
            [TrainFinished(job_id=job_id, status="failed", steps=len(metrics), error=one_line(exc))],
            expected_seq=seq,
        )
        if isinstance(exc, TrainingError):
            raise
        raise TrainingError(f"training job {job_id} failed: {one_line(exc)}") from exc
    created = [
        AdapterCreated(
            name=name,
            job_id=job_id,
            base_model=str(model_dir),
            format=fmt,  # type: ignore[arg-type]
            path=str(path),
            files={f.name: store.put_blob(f.read_bytes()) for f in sorted(path.iterdir()) if f.is_file()},
            parent=parent_adapter,
        )
        for fmt, path in (("peft", peft_path), ("mlx", mlx_path))
    ]
    adapter_stream = f"adapter/{name}"
    store.append(
        adapter_stream,
        [NewEvent(data=event, blobs=tuple(event.files.values())) for event in created],
        expected_seq=store.stream_seq(adapter_stream),
    )
    store.append(
        stream, [TrainFinished(job_id=job_id, status="completed", steps=len(metrics), adapter=name)], expected_seq=seq
    )
    return TrainResult(job_id, name, peft_path, mlx_path, metrics, diagnosis)


def _trainer(backend: str, model_dir: Path, config: SdftConfig, total_steps: int) -> SdftTrainer | MlxSdftTrainer:
    if backend == "mlx":
        from traj.train._sdft_mlx import MlxSdftTrainer

        return MlxSdftTrainer(model_dir, config, total_steps=total_steps)
    return SdftTrainer(model_dir, config, total_steps=total_steps)


def _diagnose(
    trainer: SdftTrainer | MlxSdftTrainer, batch: list[TrainingExample], examples: list[TrainingExample], kl: float
) -> KlDiagnosis:
    """Step-0 numbers: the KL before any update, and who gets the next action right."""
    from traj.agent import ParseError, parse_action

    def accuracy(teacher: bool) -> float:
        queries = [e.teacher_query if teacher else e.query for e in batch]
        hits = 0
        for text, example in zip(trainer.greedy_answers(queries, teacher=teacher), batch, strict=True):
            with contextlib.suppress(ParseError):
                hits += parse_action(text).action.to_json() == example.target
        return hits / len(batch)

    enriched = sum(e.enriched for e in examples) / len(examples)
    return KlDiagnosis(kl, enriched, accuracy(teacher=True), accuracy(teacher=False), trainer.config.ema_alpha)


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
