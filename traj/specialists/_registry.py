"""A task's specialist: the adapter the agent loads for it, registered and rolled back as events.

``specialist/<task>`` holds ``specialist.registered`` and ``specialist.rolled_back`` events; the
latest one names the adapter in force (the ``specialists`` view). Every request is checked
against the projections before anything is appended, and the append states the stream's seq
read before the check, so a bad request or a concurrent change leaves the log as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from traj.errors import SpecialistError
from traj.eventlog import SpecialistRegistered, SpecialistRolledBack

if TYPE_CHECKING:
    from traj.eventlog import Store

__all__ = [
    "AdapterChoice",
    "AdapterSummary",
    "SpecialistChange",
    "adapter_summaries",
    "choose_adapter",
    "register_specialist",
    "rollback_specialist",
    "specialist_of",
    "specialists",
]

STORE_BACKENDS = ("transformers", "mlx", "vllm")
"""Backends that load adapters from this store, so a registered specialist means something to them."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")


@dataclass(frozen=True)
class SpecialistChange:
    """One appended change: ``task``'s specialist is now ``adapter`` (it was ``previous``)."""

    task: str
    adapter: str
    previous: str | None
    change: Literal["registered", "rolled_back"]
    position: int


@dataclass(frozen=True)
class AdapterChoice:
    """Which adapter a run of a task loads (``None``: the base model, or for a server backend whatever
    its server has active), where the choice came from and why."""

    adapter: str | None
    source: Literal["override", "specialist", "base", "server"]
    reason: str


@dataclass(frozen=True)
class AdapterSummary:
    """An adapter as ``traj adapters list`` shows it: how it was made and whether it is a specialist."""

    name: str
    formats: str
    objective: str | None
    steps: int | None
    last_kl: float | None
    demos: int
    decisions: int
    parent: str | None
    specialist_of: list[str]
    """The tasks whose registered specialist it is now."""


def specialist_of(store: Store, task: str) -> str | None:
    """The adapter registered as ``task``'s specialist now, or ``None``."""
    return specialists(store).get(task)


def specialists(store: Store) -> dict[str, str]:
    """Every task's specialist now: task -> adapter."""
    return {task: adapter for task, (adapter, _) in _facts(store).specialists.items()}


def register_specialist(store: Store, adapter: str, task: str, *, note: str = "") -> SpecialistChange:
    """Make ``adapter`` (a name in the store) the specialist ``traj run --task TASK`` loads by default."""
    _check_name("task", task)
    facts = _facts(store)
    if adapter not in facts.adapters:
        raise SpecialistError(f"no adapter {adapter!r} in {store.home} (see 'traj adapters list')")
    previous, seq = facts.specialists.get(task, (None, 0))
    if previous == adapter:
        raise SpecialistError(f"{adapter!r} is already the specialist of task {task!r}; nothing recorded")
    event = SpecialistRegistered(task=task, adapter=adapter, previous=previous, note=note)
    result = store.append(f"specialist/{task}", [event], expected_seq=seq)
    return SpecialistChange(task, adapter, previous, "registered", result.first_position)


def rollback_specialist(
    store: Store, adapter: str | None = None, *, task: str | None = None, to: str | None = None, note: str = ""
) -> list[SpecialistChange]:
    """Return the specialist to an earlier adapter: ``to`` when given, else the current one's parent.

    Name either ``adapter`` (every task whose specialist it is now goes back) or ``task``. Raises
    :class:`SpecialistError`, having appended nothing, for an unknown adapter or task, an adapter
    that is no task's specialist, or when there is no earlier adapter to return to.
    """
    if (adapter is None) == (task is None):
        raise SpecialistError("give the adapter to roll back or --task TASK, one of them")
    facts = _facts(store)
    in_force = {name: current for name, (current, _) in facts.specialists.items()}
    known = {name: parent for name, (parent, _) in facts.adapters.items()}
    if adapter is not None:
        if adapter not in known:
            raise SpecialistError(f"no adapter {adapter!r} in {store.home} (see 'traj adapters list')")
        tasks = sorted(t for t, a in in_force.items() if a == adapter)
        if not tasks:
            raise SpecialistError(f"adapter {adapter!r} is not the specialist of any task; nothing to roll back")
    else:
        assert task is not None
        if task not in in_force:
            raise SpecialistError(f"task {task!r} has no registered specialist; nothing to roll back")
        tasks = [task]
    if to is not None and to not in known:
        raise SpecialistError(f"no adapter {to!r} to roll back to in {store.home} (see 'traj adapters list')")
    planned: list[tuple[str, SpecialistRolledBack]] = []
    for name in tasks:
        current = in_force[name]
        earlier, reason = (to, "named") if to is not None else (known[current], "parent")
        if earlier is None:
            raise SpecialistError(
                f"adapter {current!r} (specialist of {name!r}) has no parent in its lineage: no earlier adapter "
                "to return to (name one with --to)"
            )
        if earlier not in known:
            raise SpecialistError(f"the parent of {current!r}, {earlier!r}, is not an adapter in {store.home}")
        if earlier == current:
            raise SpecialistError(f"{current!r} is already the specialist of task {name!r}")
        planned.append(
            (name, SpecialistRolledBack(task=name, adapter=earlier, previous=current, reason=reason, note=note))  # type: ignore[arg-type]
        )
    changes = []
    for name, event in planned:
        result = store.append(f"specialist/{name}", [event], expected_seq=facts.specialists[name][1])
        changes.append(SpecialistChange(name, event.adapter, event.previous, "rolled_back", result.first_position))
    return changes


def choose_adapter(
    store: Store,
    task: str,
    *,
    adapter: str | None = None,
    backend: str = "transformers",
    model: str | Path | None = None,
) -> AdapterChoice:
    """The adapter a run of ``task`` loads: ``adapter`` when given (the manual override), else the
    task's registered specialist, else none (the base model); ``reason`` says which and why.

    The specialist is skipped, with the reason, for a backend that does not load adapters from
    this store or a ``model`` other than the specialist's base model.
    """
    facts = _facts(store)
    current = facts.specialists.get(task, (None, 0))[0]
    if adapter is not None:
        if current is None:
            said = ""
        elif current == adapter:
            said = " (also the task's registered specialist)"
        else:
            said = f" instead of the specialist {current!r}"
        return AdapterChoice(adapter, "override", f"adapter {adapter!r} given with --adapter{said}")
    if backend not in STORE_BACKENDS:
        return AdapterChoice(
            None, "server", f"the {backend} backend runs what its server has active (choose an adapter with --adapter)"
        )
    if current is None:
        return AdapterChoice(
            None, "base", f"task {task!r} has no registered specialist: base model (see 'traj adapters register')"
        )
    base = facts.adapters[current][1]
    local = backend in ("transformers", "mlx")  # vllm's model is a served name, not a directory
    if local and model is not None and base and Path(base).resolve() != Path(model).resolve():
        return AdapterChoice(
            None,
            "base",
            f"the specialist {current!r} of task {task!r} was trained on {base}, not {model}: base model "
            f"(force it with --adapter {current})",
        )
    return AdapterChoice(current, "specialist", f"adapter {current!r}: the registered specialist of task {task!r}")


def adapter_summaries(store: Store, task: str | None = None) -> list[AdapterSummary]:
    """Every adapter (or ``task``'s: trained on its data, made by a job for it, or registered for
    it), oldest first, with the job that made it and the tasks it is the specialist of."""
    from traj.projections import Projections

    with Projections(store) as projections:
        rows = projections.query(
            """
            WITH now AS (SELECT adapter, list(task ORDER BY task) AS tasks FROM specialists GROUP BY adapter)
            SELECT a.name, string_agg(a.format, ', ' ORDER BY a.format) AS formats, any_value(a.parent) AS parent,
                   any_value(t.objective) AS objective, any_value(t.steps) AS steps, any_value(t.last_kl) AS last_kl,
                   any_value(json_array_length(t.dataset->'demo_ids')) AS demos,
                   any_value(json_array_length(t.dataset->'event_ids')) AS decisions,
                   coalesce(any_value(now.tasks), []) AS specialist_of, min(a.position) AS first
            FROM adapters a LEFT JOIN train_runs t USING (job_id) LEFT JOIN now ON now.adapter = a.name
            WHERE $task IS NULL OR a.name IN (SELECT name FROM task_adapters WHERE task = $task)
            GROUP BY a.name ORDER BY first
            """,
            {"task": task},
        ).to_pylist()
    return [
        AdapterSummary(
            name=r["name"],
            formats=r["formats"],
            objective=r["objective"],
            steps=r["steps"],
            last_kl=r["last_kl"],
            demos=r["demos"] or 0,
            decisions=r["decisions"] or 0,
            parent=r["parent"],
            specialist_of=r["specialist_of"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class _Facts:
    """What a request is checked against, read from one snapshot of the log."""

    specialists: dict[str, tuple[str, int]]
    """task -> (its specialist, the next seq of ``specialist/<task>``): an append at that seq fails
    if anything changed the task since the snapshot."""
    adapters: dict[str, tuple[str | None, str | None]]
    """adapter -> (its parent in lineage, its base model)."""


def _facts(store: Store) -> _Facts:
    from traj.projections import Projections

    with Projections(store) as projections:
        current = projections.query("SELECT task, adapter, seq FROM specialists").to_pylist()
        adapters = projections.query(
            "SELECT name, any_value(parent) AS parent, any_value(base_model) AS base FROM adapters GROUP BY name"
        ).to_pylist()
    return _Facts(
        {r["task"]: (r["adapter"], r["seq"] + 1) for r in current},
        {r["name"]: (r["parent"], r["base"]) for r in adapters},
    )


def _query(store: Store, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    from traj.projections import Projections

    with Projections(store) as projections:
        return projections.query(sql, params).to_pylist()


def _check_name(kind: str, value: str) -> None:
    if not _NAME.fullmatch(value):
        raise SpecialistError(
            f"invalid {kind} name {value!r}: letters, digits and ._:- (starting with a letter or digit)"
        )
