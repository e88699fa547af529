"""Capture and workflows on MiniWoB++, a public suite of small web tasks nobody here wrote.

    bash scripts/setup.sh --test                         # installs the pages (MIT; only their HTML is used)
    python bench/miniwob.py                              # every task with a solver, 10 new instances each
    python bench/miniwob.py --tasks click-tab use-slider --instances 5

Per task: its scripted demonstrator (``bench/wob/solvers.py``: real mouse and keyboard input,
checked by ``bench/wob/check.py``) is recorded on instance 0 with the instruction the page shows
as the goal; the demo is replayed on the same instance, then on each new instance (seeds
1..N) with that instance's instruction as ``--goal`` (the variables bound from its text, no
model). The page's own reward is the truth; beside it, traj's verdict from the success spec it
derived from the demo's end state. Reported per task: steps recorded, record-time warnings,
same-instance replay, new-instance success, and how often traj's verdict said success where the
page did not (``false_success``, which must be 0) or could not say (``unknown``). As a control,
each new instance is also replayed with the demonstrated values (no goal): where the page does
not reward that, traj's verdict must not say success either (``control_false_success``, 0).
Final JSON line.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))

import wob
from wob.solvers import SOLVERS

from traj.browser import launch, record
from traj.errors import TrajError
from traj.eventlog import Store
from traj.replay import replay_demo

if TYPE_CHECKING:
    from playwright.sync_api import Page


@dataclass
class TaskResult:
    """One task: its recording, and its replays judged by the page and by traj."""

    task: str
    steps: int = 0
    warnings: list[str] = field(default_factory=list)
    demonstrated: bool = False
    same_instance: bool = False
    successes: int = 0
    instances: int = 0
    false_success: int = 0
    unknown: int = 0
    controls: int = 0
    control_false_success: int = 0
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: float = 0.0

    def row(self) -> dict[str, object]:
        return {
            "steps": self.steps,
            "warnings": len(self.warnings),
            "demonstrated": self.demonstrated,
            "same_instance": self.same_instance,
            "success_rate": round(self.successes / self.instances, 3) if self.instances else None,
            "false_success": self.false_success,
            "unknown": self.unknown,
            "controls": self.controls,
            "control_false_success": self.control_false_success,
            "top_reasons": [reason for reason, _ in self.reasons.most_common(2)],
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=sorted(SOLVERS), choices=sorted(SOLVERS), metavar="TASK")
    parser.add_argument("--instances", type=int, default=10, help="new instances (seeds 1..N) per task")
    args = parser.parse_args(argv)

    results = {task: TaskResult(task) for task in args.tasks}
    print(_HEADER)
    with wob.serve() as base, tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "store") as store:
        demos = {task: _record(store, base, results[task]) for task in args.tasks}  # before the replays' browser:
        with launch(headless=True) as session:  # Playwright's sync API does not nest
            for task, result in results.items():
                started = time.perf_counter()
                _replay(store, session.page, base, demos[task], result, args.instances)
                result.seconds += time.perf_counter() - started
                print(_line(result))
    tasks = list(results.values())
    instances = sum(r.instances for r in tasks)
    summary = {
        "bench": "miniwob",
        "tasks": len(tasks),
        "instances_per_task": args.instances,
        "demonstrated": sum(r.demonstrated for r in tasks),
        "same_instance_replay_rate": round(sum(r.same_instance for r in tasks) / len(tasks), 3) if tasks else None,
        "new_instance_success_rate": round(sum(r.successes for r in tasks) / instances, 3) if instances else None,
        "false_success": sum(r.false_success for r in tasks),
        "unknown": sum(r.unknown for r in tasks),
        "controls": sum(r.controls for r in tasks),
        "control_false_success": sum(r.control_false_success for r in tasks),
        "per_task": {r.task: r.row() for r in tasks},
    }
    print(json.dumps(summary))
    return 0


_HEADER = (
    f"{'task':<26} {'steps':>5} {'warn':>4} {'same':>5} {'new':>7} {'false ok':>8} {'unknown':>7} ctl false  s  reasons"
)


def _line(result: TaskResult) -> str:
    same = "yes" if result.same_instance else "NO"
    reasons = "; ".join(reason for reason, _ in result.reasons.most_common(2))[:150]
    return (
        f"{result.task:<26} {result.steps:>5} {len(result.warnings):>4} {same:>5} {result.successes:>3}/"
        f"{result.instances:<3} {result.false_success:>8} {result.unknown:>7} {result.control_false_success:>4}/"
        f"{result.controls:<4} {result.seconds:>6.1f}  {reasons}"
    )


def _record(store: Store, base: str, result: TaskResult) -> tuple[str, str, str]:
    """Record the task's demonstrator on instance 0: (demo id, its URL, its goal)."""
    started = time.perf_counter()
    url = wob.task_url(base, result.task, 0)
    with launch(headless=True) as session:
        session.page.goto(url)
        goal = wob.goal(session.page)
    rewards: list[float | None] = []

    def demonstrate(page: Page) -> None:
        SOLVERS[result.task](page)
        rewards.append(_reward(page))

    demo = record(
        store,
        url,
        task=f"wob-{result.task}",
        goal=goal,
        demonstrator=demonstrate,
        headless=True,
        on_warning=result.warnings.append,
    )
    result.steps = sum(1 for e in store.events(stream=demo.stream) if e.type == "action")
    result.demonstrated = bool(rewards and (rewards[0] or 0) > 0)
    result.seconds = time.perf_counter() - started
    return demo.demo_id, url, goal


def _replay(
    store: Store, page: Page, base: str, demo: tuple[str, str, str], result: TaskResult, instances: int
) -> None:
    """Replay the demo on its own instance, then on seeds 1..instances bound from their goals."""
    demo_id, url, goal = demo
    page.goto(url)
    result.same_instance, _, _ = _replayed(store, page, demo_id, url, goal)
    for seed in range(1, instances + 1):
        url = wob.task_url(base, result.task, seed)
        page.goto(url)
        succeeded, verdict, reason = _replayed(store, page, demo_id, url, wob.goal(page))
        result.instances += 1
        result.successes += succeeded
        result.false_success += verdict is True and not succeeded
        result.unknown += verdict is None
        if not succeeded:
            result.reasons[reason or "every step ran; the page gave no reward"] += 1
        page.goto(url)  # the control: the demonstrated values, where the instance asks for others
        wrong, verdict, _ = _replayed(store, page, demo_id, url, None)
        if not wrong:
            result.controls += 1
            result.control_false_success += verdict is True


def _replayed(store: Store, page: Page, demo_id: str, url: str, goal: str | None) -> tuple[bool, bool | None, str]:
    """Replay on ``url`` with ``goal`` (None: the demonstrated values): (the page rewarded it,
    traj's verdict, why it failed)."""
    try:
        replayed = replay_demo(store, demo_id, page, url=url, goal=goal)
    except TrajError as exc:
        return False, False, str(exc).splitlines()[0][:120]
    value = _reward(page)
    return (
        value is not None and value > 0,
        replayed.success,
        replayed.reason.splitlines()[0][:120] if replayed.reason else "",
    )


def _reward(page: Page) -> float | None:
    """The page's reward, given a moment to arrive (some tasks end their episode after a delay)."""
    deadline = time.monotonic() + 2
    while (value := wob.reward(page)) is None and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    return value


if __name__ == "__main__":
    raise SystemExit(main())
