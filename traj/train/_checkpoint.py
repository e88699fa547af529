"""Checkpoints of a training job and what ``traj train --resume`` needs to continue one.

A checkpoint is the trainer's whole state (both adapters, the EMA teacher, the optimizer and
schedule, the RNG states, the step) serialised with ``torch.save`` and stored as a blob, which
the blob store writes atomically (temp file, fsync, rename); ``train.checkpoint`` names it.
Resuming rebuilds the job from its own events alone: the config and the exact example ids of
``train.started``, the last checkpoint, and the steps already recorded (not recorded again).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from traj.errors import TrainingError, one_line
from traj.eventlog import Event, TrainCheckpoint, TrainStarted

if TYPE_CHECKING:
    from traj.eventlog import Store
    from traj.train._config import TrainingExample

__all__ = ["JobProgress", "decode_checkpoint", "encode_checkpoint", "examples_of", "job_progress", "unfinished_job"]


def encode_checkpoint(state: dict[str, Any]) -> bytes:
    """A trainer's :meth:`checkpoint` as bytes."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def decode_checkpoint(data: bytes) -> dict[str, Any]:
    """The state :func:`encode_checkpoint` wrote (tensors and plain values only: nothing executes)."""
    import torch

    try:
        # onto the CPU: a checkpoint written on a GPU resumes anywhere (restore moves it to the device)
        return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:
        raise TrainingError(f"unreadable training checkpoint: {one_line(exc)}") from None


@dataclass(frozen=True)
class JobProgress:
    """How far a job got: its last checkpoint event (if any) and the step numbers it recorded."""

    checkpoint: Event | None
    recorded_steps: set[int]


def job_progress(store: Store, job_id: str) -> JobProgress:
    """Read ``train/<job_id>`` for its last checkpoint and recorded steps."""
    checkpoint, recorded = None, set()
    for event in store.events(stream=f"train/{job_id}", types=["train.checkpoint", "train.step"]):
        if isinstance(event.data, TrainCheckpoint):
            checkpoint = event
        else:
            recorded.add(event.data.step)  # type: ignore[attr-defined]
    return JobProgress(checkpoint, recorded)


def unfinished_job(store: Store, job_id: str | None, *, task: str | None = None) -> TrainStarted:
    """The ``train.started`` of ``job_id``, or of the latest job (of ``task``) not completed."""
    from traj.projections import Projections

    with Projections(store) as projections:
        rows = projections.query(
            "SELECT job_id, status FROM train_runs WHERE ($job IS NULL OR job_id = $job) "
            "AND ($task IS NULL OR json_extract_string(config, '$.task') = $task) ORDER BY position DESC",
            {"job": job_id, "task": task},
        ).to_pylist()
    if job_id is not None and not rows:
        raise TrainingError(f"no training job {job_id} in {store.home} (see 'traj query \"FROM train_runs\"')")
    if job_id is not None and rows[0]["status"] == "completed":
        raise TrainingError(f"training job {job_id} already completed; there is nothing to resume")
    pending = [r for r in rows if r["status"] != "completed"]
    if not pending:
        scope = f" of task {task!r}" if task else ""
        raise TrainingError(f"no unfinished training job{scope} to resume in {store.home}")
    started = store.events(stream=f"train/{pending[0]['job_id']}", types=["train.started"])
    return started[0].data  # type: ignore[return-value]


def examples_of(store: Store, started: TrainStarted) -> list[TrainingExample]:
    """The job's dataset snapshot again: its exact example ids, in their recorded order."""
    snapshot = started.dataset
    if snapshot.view == "decision_pairs":
        from traj.train._data import preference_examples

        available = {e.action_id: e for e in preference_examples(store, as_of=snapshot.as_of_position)}
    else:
        from traj.train._data import feed_examples

        # prompts budgeted for the job's base model, as training_examples(model=...) built them
        examples = feed_examples(
            store,
            verified_only=False,
            demo_ids=set(snapshot.demo_ids) or None,
            model=started.base_model,
            teacher_layout=started.config.get("teacher_layout", "rules"),
        )
        available = {e.action_id: e for e in examples}
    missing = [i for i in snapshot.event_ids if i not in available]
    if missing:
        raise TrainingError(
            f"job {started.job_id}: {len(missing)} of its {len(snapshot.event_ids)} examples are gone from the log"
        )
    return [available[i] for i in snapshot.event_ids]
