"""Agent step latency: where a step's time goes, per phase, for the tiny model on CPU.

    python bench/agent.py                                # transformers and mlx, every site x 6 steps
    python bench/agent.py --backends transformers --steps 10 --model PATH

Each backend runs the agent (``traj.agent.run_on_page``) on every bundled site, headless,
recording every step in a scratch store. A step's time splits into observe (DOM snapshot),
prompt (render + token budget), generate (the model), parse (parser and guards), execute (the
action in Chromium and its locators for the record), page_wait (the site's own time: a
document the action started loading, or a WAIT the model chose), and the screenshot, taken
while the model generates for a text-only policy. Target: the agent's own phases (observe,
prompt, parse, execute) under 50 ms per step (median); page_wait is shown beside them, not
counted, since it is the site's latency. The baseline in the same run is the generate phase
itself: the table shows what share of a step the agent's own machinery costs. The last line
is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from traj.agent import run_on_page
from traj.browser import launch
from traj.eventlog import Store
from traj.policy import open_policy
from traj.sites import SITES, serve_sites

PHASES = ("observe", "prompt", "generate", "parse", "execute", "page_wait", "screenshot")
OWN = ("observe", "prompt", "parse", "execute")
TARGET_MS = 50.0
SEED = 11


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["transformers", "mlx"], choices=["transformers", "mlx"])
    parser.add_argument("--sites", nargs="+", default=list(SITES), choices=sorted(SITES))
    parser.add_argument("--steps", type=int, default=6, help="max steps per site")
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the tiny model)")
    args = parser.parse_args(argv)

    console = Console()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, serve_sites() as server, launch(headless=True) as session:
        store = Store.open(Path(tmp) / "store", create=True)
        for backend in args.backends:
            policy = open_policy(backend, args.model)
            timings: dict[str, list[float]] = {phase: [] for phase in PHASES}
            own: list[float] = []
            for warmup_or_site in ["warmup", *args.sites]:
                site = args.sites[0] if warmup_or_site == "warmup" else warmup_or_site
                context = session.browser.new_context()
                page = context.new_page()
                url = SITES[site].start_url(server.url, SEED)
                result = run_on_page(store, policy, page, task=site, url=url, max_steps=args.steps)
                context.close()
                if warmup_or_site == "warmup":
                    continue
                for step in result.steps:
                    for phase in PHASES:
                        if phase in step.timings_ms:
                            timings[phase].append(step.timings_ms[phase])
                    own.append(sum(step.timings_ms.get(phase, 0.0) for phase in OWN))
            policy.close()
            results[backend] = {f"{phase}_ms": _median(values) for phase, values in timings.items()}
            results[backend]["own_ms"] = _median(own)
            results[backend]["own_p95_ms"] = _quantile(own, 0.95)
            results[backend]["steps"] = len(own)
            results[backend]["own_share_of_step"] = results[backend]["own_ms"] / max(
                1e-9, results[backend]["own_ms"] + results[backend]["generate_ms"]
            )
        store.close()

    table = Table("backend", *[f"{p} ms" for p in PHASES], "agent own", "own p95", "target", header_style="bold")
    for backend, row in results.items():
        met = row["own_ms"] < TARGET_MS
        table.add_row(
            backend,
            *[f"{row[f'{p}_ms']:.1f}" for p in PHASES],
            f"{row['own_ms']:.1f}",
            f"{row['own_p95_ms']:.1f}",
            "[green]met[/]" if met else "[red]missed[/]",
        )
    console.print(table)
    counts = ", ".join(f"{backend}: {int(row['steps'])} steps" for backend, row in results.items())
    console.print(
        f"medians over {counts}; own = observe + prompt + parse + execute; "
        "the screenshot overlaps generate for text-only policies"
    )
    print(json.dumps({"bench": "agent", "target_ms": TARGET_MS, "results": results}))
    return 0 if all(r["own_ms"] < TARGET_MS for r in results.values()) else 1


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return _median(values)
    return statistics.quantiles(values, n=100)[int(q * 100) - 1]


if __name__ == "__main__":
    sys.exit(main())
