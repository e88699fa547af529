"""Training jobs on the server: a queue, one job at a time, on a background thread.

A job trains on the server's own store (uploaded demos) or on a JSONL dataset, through
:func:`traj.train.train`, which records it as ``train/<job_id>`` events; a run's progress is read
back from its ``train.step`` events. Runs are named by the caller's ``run_id`` (the
local-trainer contract) or by one the server makes up; their state lives in memory, the
training itself in the log.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from traj.errors import QueueFullError, TrainingError, TrajError, one_line
from traj.eventlog import Store

__all__ = ["TrainRun", "TrainingQueue", "examples_from_jsonl"]

log = logging.getLogger("traj.serve")

RunStatus = Literal["pending", "running", "completed", "failed"]


@dataclass
class TrainRun:
    """One queued, running or finished training job, as ``/train/status`` and ``/status/{run_id}`` show it."""

    run_id: str
    adapter: str
    objective: str
    steps_total: int
    job_id: str | None = None
    """The platform's job id (local-trainer contract); ``None`` for traj's own requests."""
    status: RunStatus = "pending"
    train_job_id: str | None = None
    """The ``train/<id>`` stream of the job in the server's log, once it started."""
    error: str | None = None
    output_model_ref: str | None = None
    """The trained adapter's PEFT directory on the server (``GET /adapters/{name}`` downloads it)."""
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    device: str | None = None
    """Where the job trains (``cuda:0``, ``cpu``) and the base weights' dtype, as the server resolved them."""
    dtype: str | None = None
    peak_memory_bytes: int | None = None
    """The most memory the training process has held on that device, as of the job's last step."""

    def measured(self, metrics: Any) -> None:
        """Keep what a finished step measured that the log does not: the device's peak memory."""
        self.peak_memory_bytes = metrics.peak_memory_bytes

    def to_json(self, store: Store) -> dict[str, Any]:
        """The run's state, with progress read from its ``train.step`` events."""
        step = loss = kl = None
        steps_done = 0
        if self.train_job_id is not None:
            steps = store.read(stream=f"train/{self.train_job_id}", types=["train.step"], columns=["data"])
            steps_done = steps.num_rows
            if steps_done:
                last = msgspec.json.decode(steps["data"][-1].as_py())
                step, loss, kl = last["step"], last["loss"], last.get("kl")
        return {
            "run_id": self.run_id,
            "job_id": self.job_id,
            "status": self.status,
            "adapter": self.adapter,
            "objective": self.objective,
            "train_job_id": self.train_job_id,
            "steps_done": steps_done,
            "steps_total": self.steps_total,
            "step": step,
            "loss": loss,
            "kl": kl,
            "error": self.error,
            "output_model_ref": self.output_model_ref,
            "submitted_at": self.submitted_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "device": self.device,
            "dtype": self.dtype,
            "peak_memory_bytes": self.peak_memory_bytes,
        }


Trainer = Callable[[Callable[[], None]], Any]
"""Runs one job given a callback to call after every step; returns the ``TrainResult``."""


class TrainingQueue:
    """Jobs run one at a time, in submission order, on one background thread."""

    def __init__(
        self, store: Store, *, max_queued: int = 8, on_completed: Callable[[TrainRun], None] | None = None
    ) -> None:
        """``on_completed`` runs after a job wrote its adapter, before the run reads as completed."""
        self.store = store
        self.max_queued = max_queued
        self.on_completed = on_completed
        self.runs: dict[str, TrainRun] = {}
        self._pending: queue.Queue[tuple[TrainRun, Trainer] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="traj-train", daemon=True)
        self._thread.start()

    def submit(self, run: TrainRun, trainer: Trainer) -> TrainRun:
        """Queue ``run``; raises QueueFullError when ``max_queued`` jobs already wait."""
        with self._lock:
            if run.run_id in self.runs:
                raise TrainingError(f"a run {run.run_id!r} already exists ({self.runs[run.run_id].status})")
            if sum(r.status == "pending" for r in self.runs.values()) >= self.max_queued:
                raise QueueFullError(f"{self.max_queued} training jobs are already queued; try again later")
            if any(r.adapter == run.adapter and r.status in ("pending", "running") for r in self.runs.values()):
                raise TrainingError(f"adapter {run.adapter!r} is already being trained")
            self.runs[run.run_id] = run
        self._pending.put((run, trainer))
        return run

    def running(self) -> TrainRun | None:
        return next((r for r in self.runs.values() if r.status == "running"), None)

    def queued(self) -> list[TrainRun]:
        return [r for r in self.runs.values() if r.status == "pending"]

    def close(self, timeout_s: float = 0.0) -> None:
        """Stop taking jobs; a job still training finishes on its daemon thread unless the process ends."""
        self._pending.put(None)
        self._thread.join(timeout_s)

    def _work(self) -> None:
        while (item := self._pending.get()) is not None:
            run, trainer = item
            run.status, run.started_at = "running", time.time()
            try:
                result = trainer(lambda run=run: self._learn_job_id(run))
            except Exception as exc:  # a failed job is reported, never takes the server down
                if not isinstance(exc, TrajError):
                    log.exception("training run %s failed", run.run_id)
                run.error, run.status = one_line(exc), "failed"
            else:
                run.train_job_id = result.job_id
                run.output_model_ref = str(result.peft_path)
                if self.on_completed is not None:
                    try:
                        self.on_completed(run)
                    except Exception as exc:  # the adapter is trained and recorded; only loading it failed
                        log.warning("run %s: could not load adapter %s: %s", run.run_id, run.adapter, one_line(exc))
                run.status = "completed"
            run.finished_at = time.time()

    def _learn_job_id(self, run: TrainRun) -> None:
        """After a step: find the run's ``train/<id>`` stream (its ``train.started`` names the adapter)."""
        if run.train_job_id is not None:
            return
        started = self.store.read(types=["train.started"], columns=["data"])["data"].to_pylist()
        for data in reversed(started):
            payload = msgspec.json.decode(data)
            if payload.get("config", {}).get("adapter") == run.adapter:
                run.train_job_id = payload["job_id"]
                return


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


def examples_from_jsonl(path: Path) -> tuple[list[Any], str]:
    """Training examples from a JSONL dataset, and the objective it supports.

    A row is ``prompt`` (or ``query``) and ``target`` (or ``completion``), with an optional
    ``teacher_prompt`` (or ``teacher_query``: the prompt with the demonstration, as
    ``traj export --strategy sdft`` writes). With a teacher prompt on every row the objective
    is SDFT, else SFT. Rows of ``prompt``, ``chosen`` and ``rejected`` (``traj export --strategy
    preference``) are preference pairs, for DPO.
    """
    from traj.train import TrainingExample

    examples = []
    pairs: list[bool] = []
    teacher_everywhere = True
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = msgspec.json.decode(line)
            except msgspec.DecodeError as exc:
                raise TrainingError(f"dataset line {number} is not JSON: {exc}") from None
            if not isinstance(row, dict):
                raise TrainingError(f"dataset line {number} is not a JSON object")
            query = row.get("prompt", row.get("query"))
            rejected = row.get("rejected")
            pairs.append(isinstance(rejected, str))
            target = row.get("chosen") if pairs[-1] else row.get("target", row.get("completion"))
            teacher = row.get("teacher_prompt", row.get("teacher_query"))
            if not isinstance(query, str) or not isinstance(target, str):
                raise TrainingError(f"dataset line {number} needs string fields prompt and target (or chosen)")
            teacher_everywhere &= isinstance(teacher, str)
            examples.append(
                TrainingExample(
                    query=query,
                    teacher_query=teacher if isinstance(teacher, str) else query,
                    target=target,
                    rejected=rejected if pairs[-1] else "",
                    action_id=str(row.get("action_id") or ""),
                    demo_id=str(row.get("demo_id") or ""),
                    enriched=row.get("context_source") == "enrichment",
                )
            )
    if not examples:
        raise TrainingError("the dataset holds no rows")
    if any(pairs):
        if not all(pairs):
            raise TrainingError(
                f"row {pairs.index(False) + 1} has no rejected: a preference dataset needs it on every row"
            )
        return examples, "dpo"
    return examples, "sdft" if teacher_everywhere else "sft"
