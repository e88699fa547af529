"""Recorder overhead: the same scripted demonstration with and without the recorder attached.

    python bench/record.py                 # the expense-report demo, 5 interleaved rounds
    python bench/record.py --site calendar --rounds 3

Each round runs the bundled site's scripted demonstration twice in fresh browser contexts
of one Chromium, once plain and once recorded into a fresh store, alternating which goes
first. Every input call (mouse click/wheel, keyboard type/press) is timed; the added latency
of an action is its recorded duration minus the same call's plain duration in that round.
Targets: total overhead <= 1.10x, added latency p95 < 30 ms. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from traj.browser import Recorder, launch
from traj.eventlog import Store
from traj.sites import SITES, run_script, serve_sites

TARGETS = {"overhead_ratio": "<= 1.10", "added_latency_p95_ms": "< 30"}
_TIMED = {"mouse": ("click", "wheel", "dblclick"), "keyboard": ("type", "press")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default="expense", choices=sorted(SITES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    totals: dict[str, list[float]] = {"plain": [], "recorded": []}
    added_ms: list[float] = []
    actions = 0
    with serve_sites() as server, launch(headless=True) as session, tempfile.TemporaryDirectory() as tmp:
        url = SITES[args.site].start_url(server.url, args.seed)
        for round_ in range(args.rounds + 1):  # round 0 warms Chromium and the page cache up
            calls: dict[str, list[float]] = {}
            order = ("plain", "recorded") if round_ % 2 == 0 else ("recorded", "plain")
            for mode in order:
                context = session.browser.new_context(viewport={"width": 1280, "height": 800})
                store = Store.open(Path(tmp) / f"store-{round_}-{mode}") if mode == "recorded" else None
                try:
                    if store is not None:
                        recorder = Recorder(store, context, task=args.site, goal="bench", url=url, source="script")
                        page = recorder.start()
                    else:
                        page = context.new_page()
                        page.goto(url)
                    durations = _time_inputs(page)
                    start = time.perf_counter()
                    run_script(args.site, page, server.url, args.seed)
                    elapsed = time.perf_counter() - start
                    if store is not None:
                        actions = recorder.finish().actions
                finally:
                    context.close()
                    if store is not None:
                        store.close()
                calls[mode] = durations
                if round_:
                    totals[mode].append(elapsed)
            if round_:
                pairs = zip(calls["recorded"], calls["plain"], strict=False)
                added_ms += [(recorded - plain) * 1000 for recorded, plain in pairs]
            print(f"[bench] round {round_}: {len(calls['plain'])} input calls", file=sys.stderr)

    plain, recorded = statistics.median(totals["plain"]), statistics.median(totals["recorded"])
    quantiles = statistics.quantiles(added_ms, n=100) if len(added_ms) > 1 else [added_ms[0]] * 99
    summary: dict[str, Any] = {
        "bench": "record",
        "site": args.site,
        "rounds": args.rounds,
        "recorded_actions": actions,
        "plain_seconds": round(plain, 3),
        "recorded_seconds": round(recorded, 3),
        "overhead_ratio": round(recorded / plain, 3),
        "added_latency_p50_ms": round(quantiles[49], 1),
        "added_latency_p95_ms": round(quantiles[94], 1),
        "targets": TARGETS,
    }
    summary["met"] = {
        "overhead_ratio": summary["overhead_ratio"] <= 1.10,
        "added_latency_p95_ms": summary["added_latency_p95_ms"] < 30,
    }
    _print_table(summary)
    print(json.dumps(summary), flush=True)
    return 0


def _time_inputs(page: Any) -> list[float]:
    """Wrap the page's mouse and keyboard so every input call's duration is appended to a list."""
    durations: list[float] = []
    for device_name, methods in _TIMED.items():
        device = getattr(page, device_name)
        for name in methods:
            setattr(device, name, _timed(getattr(device, name), durations))
    return durations


def _timed(method: Callable[..., Any], durations: list[float]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            durations.append(time.perf_counter() - start)

    return call


def _print_table(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"recorder overhead: {summary['site']} demo, median of {summary['rounds']} rounds")
    for column in ("measurement", "recorded", "plain", "ratio / value", "target", "met"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    met = summary["met"]
    table.add_row(
        f"scripted demo, seconds ({summary['recorded_actions']} recorded actions)",
        f"{summary['recorded_seconds']:.3f}",
        f"{summary['plain_seconds']:.3f}",
        f"{summary['overhead_ratio']:.2f}x",
        TARGETS["overhead_ratio"],
        "yes" if met["overhead_ratio"] else "no",
    )
    table.add_row("added latency per input call, p50 (ms)", "", "", f"{summary['added_latency_p50_ms']:.1f}", "", "")
    table.add_row(
        "added latency per input call, p95 (ms)",
        "",
        "",
        f"{summary['added_latency_p95_ms']:.1f}",
        TARGETS["added_latency_p95_ms"],
        "yes" if met["added_latency_p95_ms"] else "no",
    )
    Console().print(table)


if __name__ == "__main__":
    raise SystemExit(main())
