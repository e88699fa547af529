"""Improvement jobs: a named, reusable recipe for making a better adapter for a task or an agent.

A job lives on ``improve/<name>``: ``improvement.created``, then ``improvement.updated`` events
(each holds the whole new spec, so the latest one is the job), and one ``improvement.ran`` per
run. Running a job is an ordinary training job (``train/<id>``, ``adapter.created`` with
lineage): the job only chooses the data (its task's, or every task's for an agent), the
settings, the adapter's name and its parent (the task's specialist in force, else the job's
previous adapter), and can register the result as the task's specialist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from traj.errors import SpecialistError
from traj.eventlog import ImprovementJobCreated, ImprovementJobRan, ImprovementJobUpdated, append_at_end
from traj.specialists._registry import SpecialistChange, _check_name, _query, register_specialist, specialist_of
from traj.train import TrainSettings

if TYPE_CHECKING:
    from traj.eventlog import Store
    from traj.train import ComputeSettings, StepMetrics, TrainResult

__all__ = ["ImprovementJob", "JobRun", "JobSettings", "create_job", "get_job", "list_jobs", "run_job", "update_job"]

Objective = Literal["sdft", "sft", "dpo"]


class JobSettings(TrainSettings, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A job's settings: the training knobs (:class:`traj.train.TrainSettings`) and where it trains."""

    backend: Literal["torch", "mlx"] | None = None
    unverified: bool | None = None
    """Also learn demonstrated steps no replay has verified."""
    model: str | None = None
    """Base model directory (default: the tiny model)."""


@dataclass(frozen=True)
class ImprovementJob:
    """A job as the log says it is now."""

    name: str
    scope: Literal["task", "agent"]
    target: str
    """The task (scope ``task``) or the agent's name (scope ``agent``)."""
    objective: Objective
    settings: dict[str, Any]
    note: str = ""
    runs: int = 0
    last_adapter: str | None = None


@dataclass(frozen=True)
class JobRun:
    """One run of a job: the training job's result, and the specialist change when it was registered."""

    job: ImprovementJob
    result: TrainResult
    parent: str | None
    registered: SpecialistChange | None = None


def create_job(
    store: Store,
    name: str,
    *,
    task: str | None = None,
    agent: str | None = None,
    objective: Objective = "sdft",
    settings: Mapping[str, Any] | None = None,
    note: str = "",
) -> ImprovementJob:
    """Define job ``name`` scoped to ``task`` (its demos or judged runs) or to ``agent`` (every task's)."""
    _check_name("job", name)
    if (task is None) == (agent is None):
        raise SpecialistError("scope a job to a task (--task) or to an agent (--agent), one of them")
    scope, target = ("task", task) if task is not None else ("agent", agent)
    assert target is not None
    _check_name(scope, target)
    checked = _settings(dict(settings or {}))
    _check_objective(objective)
    stream = f"improve/{name}"
    if store.stream_seq(stream):
        raise SpecialistError(f"improvement job {name!r} exists; change it with 'traj specialists update {name}'")
    event = ImprovementJobCreated(
        job=name,
        scope=scope,
        target=target,
        objective=objective,
        settings=checked,
        note=note,  # type: ignore[arg-type]
    )
    store.append(stream, [event], expected_seq=0)
    return ImprovementJob(name, scope, target, objective, checked, note)  # type: ignore[arg-type]


def update_job(
    store: Store,
    name: str,
    *,
    objective: Objective | None = None,
    settings: Mapping[str, Any] | None = None,
    note: str | None = None,
) -> ImprovementJob:
    """Change job ``name``: a new objective or note, settings merged in (a ``None`` value resets one)."""
    unknown = sorted(set(settings or {}) - set(JobSettings.__struct_fields__))
    if unknown:
        raise SpecialistError(f"unknown job setting {unknown[0]!r}; known: {', '.join(JobSettings.__struct_fields__)}")
    updated: list[ImprovementJob] = []

    def change() -> list[ImprovementJobUpdated]:
        # The change is worked out from the job as it is now: another update landing first
        # makes append_at_end call this again, rather than overwrite it with stale settings.
        job = get_job(store, name)
        merged = {k: v for k, v in (job.settings | dict(settings or {})).items() if v is not None}
        checked = _settings(merged)
        if objective is not None:
            _check_objective(objective)
        new = ImprovementJobUpdated(
            job=name,
            scope=job.scope,
            target=job.target,
            objective=objective or job.objective,
            settings=checked,
            note=job.note if note is None else note,
        )
        changed = [f for f in ("objective", "settings", "note") if getattr(new, f) != getattr(job, f)]
        if not changed:
            raise SpecialistError(f"nothing to change in improvement job {name!r}")
        updated[:] = [
            ImprovementJob(name, job.scope, job.target, new.objective, checked, new.note, job.runs, job.last_adapter)
        ]
        return [msgspec.structs.replace(new, changed=changed)]

    append_at_end(store, f"improve/{name}", change)
    return updated[0]


def get_job(store: Store, name: str) -> ImprovementJob:
    """Job ``name`` as it is now; :class:`SpecialistError` when there is none."""
    jobs = [j for j in _jobs(store, name) if j.name == name]
    if not jobs:
        raise SpecialistError(f"no improvement job {name!r} in {store.home} (see 'traj specialists list')")
    return jobs[0]


def list_jobs(store: Store) -> list[ImprovementJob]:
    """Every improvement job, oldest first."""
    return _jobs(store, None)


def run_job(
    store: Store,
    name: str,
    *,
    register: bool = False,
    model_dir: str | Path | None = None,
    compute: ComputeSettings | None = None,
    on_step: Callable[[StepMetrics], None] | None = None,
) -> JobRun:
    """Train job ``name``'s next adapter through :func:`traj.train.train`, record the run, and with
    ``register`` make the adapter its task's specialist. ``compute`` says where this machine
    trains (default: its GPU when it has one); it is not part of the job's recipe.

    The adapter is ``<job>-<n>``; its lineage parent is the task's specialist in force (else the
    job's previous adapter): what a rollback returns to.
    """
    from traj.train import preference_examples, train, train_config, training_examples

    job = get_job(store, name)
    if register and job.scope != "task":
        raise SpecialistError(
            f"job {name!r} is scoped to agent {job.target!r}: register its adapter for a task with "
            "'traj adapters register ADAPTER --task TASK'"
        )
    settings = JobSettings(**job.settings)
    task = job.target if job.scope == "task" else None
    if model_dir is None:
        if settings.model is not None:
            model_dir = settings.model
        else:
            from traj.tiny import init_tiny

            model_dir = init_tiny(progress=False)
    if job.objective == "dpo":
        examples = preference_examples(store, task=task)
    else:
        examples = training_examples(store, task=task, verified_only=not settings.unverified, model=model_dir)
    parent = (specialist_of(store, task) if task else None) or job.last_adapter
    taken = {r["name"] for r in _query(store, "SELECT DISTINCT name FROM adapters")}
    number = job.runs + 1
    while f"{name}-{number}" in taken:
        number += 1
    result = train(
        store,
        examples,
        model_dir=model_dir,
        config=train_config(settings, job.objective, compute=compute),
        name=f"{name}-{number}",
        task=task,
        parent_adapter=parent,
        backend=settings.backend or "torch",
        on_step=on_step,
    )
    ran = ImprovementJobRan(
        job=name, train_job_id=result.job_id, adapter=result.adapter, parent=parent, registered=register
    )
    store.append(f"improve/{name}", [ran], expected_seq=None)  # at the end: a run does not depend on the stream
    registered = register_specialist(store, result.adapter, job.target, note=f"job {name}") if register else None
    return JobRun(get_job(store, name), result, parent, registered)


def _jobs(store: Store, name: str | None) -> list[ImprovementJob]:
    rows = _query(
        store,
        "SELECT job, scope, target, objective, CAST(settings AS VARCHAR) AS settings, note, runs, last_adapter "
        "FROM improvement_jobs WHERE $name IS NULL OR job = $name ORDER BY created_at, job",
        {"name": name},
    )
    return [
        ImprovementJob(
            name=r["job"],
            scope=r["scope"],
            target=r["target"],
            objective=r["objective"],
            settings=msgspec.json.decode(r["settings"] or "{}"),
            note=r["note"] or "",
            runs=r["runs"],
            last_adapter=r["last_adapter"],
        )
        for r in rows
    ]


def _settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` checked against :class:`JobSettings` (one-line error naming the bad key)."""
    try:
        return msgspec.to_builtins(msgspec.convert(settings, JobSettings))
    except msgspec.ValidationError as exc:
        raise SpecialistError(f"bad job setting: {exc}") from None


def _check_objective(objective: str) -> None:
    if objective not in ("sdft", "sft", "dpo"):
        raise SpecialistError(f"unknown objective {objective!r}; use sdft, sft or dpo")
