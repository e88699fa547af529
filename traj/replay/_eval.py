"""Success rates of a task over seeded instances: replay a demonstration on each seed.

Later the agent runs here too; the report is the same: task success rate (the site's own
predicate), step success rate (steps that ran, ok or healed), and element accuracy (steps
on an element whose element was found and meant the recorded control).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from traj.errors import TrajError
from traj.eventlog import Store
from traj.projections import Projections
from traj.replay._engine import ReplayResult, replay

__all__ = ["EvalReport", "evaluate", "latest_demo"]

_UNTARGETED = ("NAVIGATE", "WAIT", "SCROLL")


@dataclass(frozen=True)
class EvalReport:
    """What replaying one demonstration over several seeds gave."""

    task: str
    demo_id: str
    results: dict[int, ReplayResult]

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
    seeds: Sequence[int],
    *,
    demo_id: str | None = None,
    headless: bool | None = True,
    on_result: Callable[[int, ReplayResult], None] | None = None,
) -> EvalReport:
    """Replay ``demo_id`` (default: the latest successful demo of ``task``) on every seed.

    Values that differ per seed come from the demo's variables, filled from each page's
    ``window.traj.params``. ``on_result`` is called after each seed (for progress output).
    """
    if not seeds:
        raise TrajError("give at least one seed")
    demo_id = demo_id or latest_demo(store, task)
    results: dict[int, ReplayResult] = {}
    for seed in seeds:
        results[seed] = replay(store, demo_id, seed=seed, heal=False, headless=headless, timeout_s=5.0)
        if on_result is not None:
            on_result(seed, results[seed])
    return EvalReport(task, demo_id, results)
