"""Success rates of a task over instances: replay a demonstration on each.

Instances are seeds of a bundled site (each page states its goal; the replay binds the
demo's variables from that text) or, on any site, lines of ``{"url", "goal"}``
(:func:`read_instances`). The report: task success rate (verified by the demo's success
spec; unknown is not success), the steps that ran (ok or healed), and element accuracy
(steps on an element whose element was found and meant the recorded control).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from traj.errors import TrajError, VariableError
from traj.eventlog import Store
from traj.projections import Projections
from traj.replay._engine import ReplayResult, replay
from traj.replay._instances import Instance

if TYPE_CHECKING:
    from traj.policy import Policy

__all__ = ["EvalReport", "evaluate", "latest_demo"]

_UNTARGETED = ("NAVIGATE", "WAIT", "SCROLL")


@dataclass(frozen=True)
class EvalReport:
    """What replaying one demonstration over several instances gave.

    ``results`` are keyed by seed, or by the instance's line in its file (``by``).
    """

    task: str
    demo_id: str
    results: dict[int, ReplayResult]
    by: Literal["seed", "line"] = "seed"

    @property
    def task_success_rate(self) -> float:
        """Verified successes over all instances: an unknown one counts against it."""
        return sum(r.success is True for r in self.results.values()) / len(self.results)

    @property
    def outcomes(self) -> dict[str, int]:
        """How many instances were verified successes, failures, and unknown (never success)."""
        found = [r.success for r in self.results.values()]
        return {"verified": found.count(True), "failed": found.count(False), "unknown": found.count(None)}

    @property
    def success(self) -> bool | None:
        """True only when every instance is a verified success; False when one failed; else unknown."""
        outcomes = self.outcomes
        if outcomes["failed"]:
            return False
        return True if not outcomes["unknown"] else None

    @property
    def step_success_rate(self) -> float:
        steps = [s for r in self.results.values() for s in r.steps]
        return sum(s.status != "failed" for s in steps) / len(steps) if steps else 0.0

    @property
    def element_accuracy(self) -> float:
        targeted = [s for r in self.results.values() for s in r.steps if s.kind not in _UNTARGETED and s.strategy]
        failed = [s for r in self.results.values() for s in r.steps if s.status == "failed" and "not found" in s.reason]
        attempts = len(targeted) + len(failed)
        return len(targeted) / attempts if attempts else 0.0


def latest_demo(store: Store, task: str) -> str:
    """The most recent successful demonstration of ``task``; TrajError when there is none."""
    with Projections(store) as projections:
        rows = projections.query(
            "SELECT demo_id FROM demos WHERE task = ? AND success IS NOT false ORDER BY position DESC LIMIT 1",
            [task],
        ).to_pylist()
    if not rows:
        raise TrajError(f"no successful demonstration of task {task!r} (record one with 'traj record')")
    return rows[0]["demo_id"]


def evaluate(
    store: Store,
    task: str,
    seeds: Sequence[int] = (),
    *,
    instances: Sequence[Instance] = (),
    demo_id: str | None = None,
    headless: bool | None = True,
    policy: Policy | None = None,
    on_result: Callable[[int, ReplayResult], None] | None = None,
    observe: bool = False,
) -> EvalReport:
    """Replay ``demo_id`` (default: the latest successful demo of ``task``) on every instance.

    Give ``seeds`` (a bundled site: each seed's page states its goal, which binds the demo's
    variables) or ``instances`` (any site: each one's URL and goal). ``policy`` fills the
    variables of a goal worded unlike the demo's. ``on_result`` is called after each instance
    (for progress output). An instance whose goal cannot be bound fails with the reason,
    without a replay; the others still run. ``observe`` records every page and action (see
    :func:`replay_demo`): the successful replays then teach ``traj train`` these instances too.
    """
    if bool(seeds) == bool(instances):
        raise TrajError("give seeds or instances (one of them)")
    demo_id = demo_id or latest_demo(store, task)
    results: dict[int, ReplayResult] = {}
    runs: list[tuple[int, int | None, Instance | None]] = [(seed, seed, None) for seed in seeds]
    runs += [(instance.line, None, instance) for instance in instances]
    for key, seed, instance in runs:
        try:
            results[key] = replay(
                store,
                demo_id,
                seed=seed,
                url=instance.url if instance else None,
                goal=instance.goal if instance else None,
                policy=policy,
                heal=False,
                headless=headless,
                timeout_s=5.0,
                observe=observe,
            )
        except VariableError as exc:  # this instance's goal does not bind: it fails, the others still run
            results[key] = ReplayResult("", demo_id, [], False, str(exc))
        if on_result is not None:
            on_result(key, results[key])
    return EvalReport(task, demo_id, results, "seed" if seeds else "line")
