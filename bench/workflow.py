"""Workflows that generalise: one demonstration per bundled task, replayed on unseen seeds bound from the goal alone.

    python bench/workflow.py                                   # every bundled task, seeds 1..20, agent on 5 of them
    python bench/workflow.py --tasks expense calendar --seeds 5 --agent-seeds 2

For each bundled task the site's scripted demonstrator records one demo at seed 0; its
variables come from the goal text (no ``window.traj.params`` anywhere). Each unseen seed is
then evaluated through ``traj.replay.evaluate``: the goal the page states binds the demo's
variables, the locator ladder finds each step's element, and the shipped tiny model
(transformers backend) takes the steps the ladder cannot (at most 3 a run). Success is what
the demo's success spec verifies; unknown counts as failure. Reported per task: task success
rate, steps by source (``workflow``, ``healed``, ``model``, and ``failed``), seconds per run,
the most common reasons of the failures; beside it the agent alone (``traj run`` without the
workflow: the same tiny model, ``traj.agent.run_agent``) on the first ``--agent-seeds`` of the
same seeds, its success rate and seconds per run. Target: >= 95% on every task whose varying
values are all named in the goal. The last line is JSON.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from traj.agent import run_agent
from traj.browser import record
from traj.eventlog import Store
from traj.policy import open_policy
from traj.replay import ReplayResult, evaluate
from traj.sites import SITES, run_script, serve_sites
from traj.tiny import shipped_tiny

TARGET = 0.95
DEMO_SEED = 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(SITES), choices=list(SITES))
    parser.add_argument("--seeds", type=int, default=20, help="unseen seeds 1..N")
    parser.add_argument("--agent-seeds", type=int, default=5, help="the agent alone runs on the first N of them")
    parser.add_argument("--agent-max-steps", type=int, default=15)
    args = parser.parse_args(argv)
    seeds = list(range(DEMO_SEED + 1, DEMO_SEED + 1 + args.seeds))

    tasks: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "store") as store:
        policy = open_policy("transformers", shipped_tiny())
        try:
            for name in args.tasks:
                demo_id = _record(store, name)
                workflow = _workflow(store, name, demo_id, seeds, policy)
                agent = _agent(store, name, seeds[: args.agent_seeds], policy, args.agent_max_steps)
                tasks[name] = {"demo_id": demo_id, **workflow, "agent": agent}
                tasks[name]["speedup_vs_agent"] = agent["s_per_run"] / workflow["s_per_run"]
                print(_row(name, tasks[name]), file=sys.stderr, flush=True)
        finally:
            policy.close()

    print(_table(tasks), file=sys.stderr)
    below = sorted(name for name, row in tasks.items() if row["success_rate"] < TARGET)
    summary = {"bench": "workflow", "seeds": len(seeds), "target": TARGET, "below_target": below, "tasks": tasks}
    print(json.dumps(summary))
    return 0


def _record(store: Store, name: str) -> str:
    """One scripted demonstration of ``name`` at the demo seed, at the site's own pace: sped up
    (``fast``), price's drop comes before the person's first click, so the demo never shows the
    wait its replays must repeat."""
    with serve_sites() as server:
        url = SITES[name].start_url(server.url, DEMO_SEED)
        demo = record(
            store,
            url,
            task=name,
            seed=DEMO_SEED,
            demonstrator=lambda page: run_script(name, page, server.url, DEMO_SEED),
            headless=True,
        )
    if demo.success is not True:
        raise SystemExit(f"[bench] the scripted demonstration of {name} did not succeed")
    return demo.demo_id


def _workflow(store: Store, name: str, demo_id: str, seeds: list[int], policy: Any) -> dict[str, Any]:
    """The demo as a workflow on every seed: success, steps by source, time per run, why runs failed."""
    times: list[float] = []
    last = [time.perf_counter()]

    def lap(_seed: int, _result: ReplayResult) -> None:
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    report = evaluate(store, name, seeds, demo_id=demo_id, policy=policy, on_result=lap)
    steps: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    for result in report.results.values():
        for step in result.steps:
            steps["failed" if step.status == "failed" else step.source] += 1
        if result.success is not True:
            reasons[_gist(result.reason or "success unknown")] += 1
    return {
        "success_rate": report.task_success_rate,
        "runs": len(seeds),
        **report.outcomes,
        "steps_by_source": dict(steps),
        "s_per_run": sum(times) / len(times),
        "failure_reasons": dict(reasons.most_common(3)),
    }


def _agent(store: Store, name: str, seeds: list[int], policy: Any, max_steps: int) -> dict[str, Any]:
    """The agent alone (``traj run`` without the workflow) on ``seeds``: success rate and time per run."""
    successes, times = 0, []
    for seed in seeds:
        started = time.perf_counter()
        with serve_sites() as server:  # as the workflow's replays do: a fresh server, the site's own pace
            url = SITES[name].start_url(server.url, seed)
            result = run_agent(store, policy, task=name, url=url, seed=seed, max_steps=max_steps, headless=True)
        times.append(time.perf_counter() - started)
        successes += result.success is True
    return {"success_rate": successes / len(seeds), "runs": len(seeds), "s_per_run": sum(times) / len(times)}


def _gist(reason: str) -> str:
    """A failure reason without its instance's values, so like failures count together."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+(\.\d+)?", "_", reason)[:100]


def _row(name: str, row: dict[str, Any]) -> str:
    agent = row["agent"]
    return (
        f"[bench] {name}: workflow {row['success_rate']:.0%} of {row['runs']} ({row['s_per_run']:.2f} s/run, "
        f"steps {row['steps_by_source']}), agent alone {agent['success_rate']:.0%} of {agent['runs']} "
        f"({agent['s_per_run']:.2f} s/run)"
    )


def _table(tasks: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| task | workflow success | steps: workflow / healed / model / failed | s/run | agent alone | agent s/run |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in tasks.items():
        steps = row["steps_by_source"]
        by_source = " / ".join(str(steps.get(k, 0)) for k in ("workflow", "healed", "model", "failed"))
        agent = row["agent"]
        lines.append(
            f"| {name} | {row['success_rate']:.0%} ({row['verified']}/{row['runs']}) | {by_source} | "
            f"{row['s_per_run']:.2f} | {agent['success_rate']:.0%} ({agent['runs']} runs) | {agent['s_per_run']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
