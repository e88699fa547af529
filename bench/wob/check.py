"""Check the solvers: each task's solver on fresh instances must earn a positive reward.

python bench/wob/check.py                          # every solver, seeds 1-5
python bench/wob/check.py --tasks click-button --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import wob
from traj.browser import launch
from wob.solvers import SOLVERS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=sorted(SOLVERS), choices=sorted(SOLVERS), metavar="TASK")
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 3, 4, 5])
    args = parser.parse_args(argv)
    failed = 0
    with wob.serve() as base, launch(headless=True) as session:
        page = session.page
        for task in args.tasks:
            for seed in args.seeds:
                page.goto(wob.task_url(base, task, seed))
                goal = wob.goal(page)
                started = time.perf_counter()
                problem = ""
                try:
                    SOLVERS[task](page)
                    deadline = time.monotonic() + 3
                    while wob.reward(page) is None and time.monotonic() < deadline:
                        page.wait_for_timeout(100)
                except Exception as exc:  # a solver that breaks is reported, the others still run
                    problem = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
                value = wob.reward(page)
                ok = value is not None and value > 0
                failed += not ok
                print(
                    f"{'ok  ' if ok else 'FAIL'} {task:<28} seed {seed:<3} reward {value} "
                    f"{time.perf_counter() - started:5.1f}s  {goal[:90]!r} {problem}"
                )
    print(f"{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
