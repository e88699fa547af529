"""Replay overhead: the same action sequence as a plain Playwright script and through traj's replay.

    python bench/replay.py                     # the bundled expense and flights demos, 5 rounds
    python bench/replay.py --sites calendar --rounds 3

A demo of each bundled site is recorded once (its scripted demonstration). Each round then
runs its actions twice in fresh contexts of one Chromium, alternating which goes first:
(1) plain Playwright: each action's top recorded locator and the matching call (click,
fill, select_option, press), no checks; (2) ``traj.replay.replay_demo``: the locator ladder
with meaning checks, outcome checks and a ``replay/<id>`` stream of events. Target: traj's
median time <= 1.2x plain. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from traj.browser import launch, record, resolve_locator
from traj.eventlog import Store
from traj.projections import Demo, load_demo
from traj.replay import replay_demo
from traj.sites import SITES, run_script, serve_sites

TARGET = 1.2
SEED = 7


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", nargs="+", default=["expense", "flights"], choices=sorted(SITES))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, serve_sites() as server, Store.open(Path(tmp) / "store") as store:
        demos = {}
        for name in args.sites:
            url = SITES[name].start_url(server.url, SEED, fast=True)
            demo = record(
                store,
                url,
                task=name,
                seed=SEED,
                demonstrator=lambda page, name=name: run_script(name, page, server.url, SEED, fast=True),
                headless=True,
            )
            demos[name] = load_demo(store, demo.demo_id)
        with launch(headless=True) as session:
            for name, demo in demos.items():
                times: dict[str, list[float]] = {"plain": [], "traj": []}
                for round_ in range(args.rounds + 1):  # round 0 warms up
                    order = ("plain", "traj") if round_ % 2 == 0 else ("traj", "plain")
                    for mode in order:
                        context = session.browser.new_context(viewport={"width": 1280, "height": 800})
                        page = context.new_page()
                        start = time.perf_counter()
                        if mode == "plain":
                            _plain(page, demo)
                        else:
                            outcome = replay_demo(store, demo.demo_id, page)
                            if not outcome.completed:
                                print(f"[bench] {name}: traj replay failed: {outcome.reason}", file=sys.stderr)
                        elapsed = time.perf_counter() - start
                        context.close()
                        if round_:
                            times[mode].append(elapsed)
                plain, traj = statistics.median(times["plain"]), statistics.median(times["traj"])
                results[name] = {"actions": len(demo.steps), "plain_s": plain, "traj_s": traj, "ratio": traj / plain}
                print(f"[bench] {name}: plain {plain:.3f}s, traj {traj:.3f}s", file=sys.stderr)

    plain_total = sum(r["plain_s"] for r in results.values())
    traj_total = sum(r["traj_s"] for r in results.values())
    summary: dict[str, Any] = {
        "bench": "replay",
        "rounds": args.rounds,
        "sites": {name: {k: round(v, 3) for k, v in r.items()} for name, r in results.items()},
        "overhead_ratio": round(traj_total / plain_total, 3),
        "target": f"<= {TARGET}",
    }
    summary["met"] = summary["overhead_ratio"] <= TARGET
    _print_table(summary)
    print(json.dumps(summary), flush=True)
    return 0


def _plain(page: Any, demo: Demo) -> None:
    """The demo's actions as a hand-written Playwright script would do them."""
    page.goto(demo.started.url)
    for index, step in enumerate(demo.steps):
        action = step.action
        if action.kind == "NAVIGATE":
            if not (action.value or "").startswith("popup:") and page.url.split("?")[0] != action.value.split("?")[0]:
                page.wait_for_url(action.value.split("?")[0] + "**")
            continue
        if action.kind in ("WAIT", "SCROLL") or not action.locators:
            continue
        locator = resolve_locator(page, *action.locators[0])
        following = demo.steps[index + 1].action if index + 1 < len(demo.steps) else None
        if action.kind == "CLICK" and following and (following.value or "").startswith("popup:"):
            with page.context.expect_page() as popup:
                locator.click()
            page = popup.value
        elif action.kind == "CLICK":
            locator.click()
        elif action.kind == "TYPE":
            locator.fill(action.value or "")
        elif action.kind == "SELECT":
            locator.select_option(label=action.value)
        elif action.kind == "PRESS_ENTER":
            locator.press("Enter")


def _print_table(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"replay overhead, median of {summary['rounds']} rounds")
    for column in ("demo", "actions", "traj replay (s)", "plain Playwright (s)", "ratio"):
        table.add_column(column, justify="left" if column == "demo" else "right")
    for name, r in summary["sites"].items():
        table.add_row(name, str(int(r["actions"])), f"{r['traj_s']:.3f}", f"{r['plain_s']:.3f}", f"{r['ratio']:.2f}x")
    met = "yes" if summary["met"] else "no"
    table.add_row("all", "", "", "", f"{summary['overhead_ratio']:.2f}x (target {summary['target']}, met: {met})")
    Console().print(table)


if __name__ == "__main__":
    raise SystemExit(main())
