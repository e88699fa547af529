"""The agent on the bundled tasks with and without constrained action decoding, same model, same seeds.

    python bench/constrained.py                                   # the shipped tiny model, every site x 3 seeds
    python bench/constrained.py --backend mlx --seeds 1 2 --max-steps 6 --model PATH

Each run is ``traj.agent.run_on_page`` (greedy, headless) on a bundled site's seed, once with
``constrain=True`` (the default) and once with ``constrain=False``; the baseline is the same
agent unconstrained in the same process. Reported per condition: task success (the site's own
verdict), the share of steps whose output was rejected (no parsable action, or an element not
on the page), the steps taken, and the median time of the generate phase (the constraint's cost:
compiling the page's schema and masking each token are inside it). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
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

CONDITIONS = {"constrained": True, "unconstrained": False}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="transformers", choices=["transformers", "mlx"])
    parser.add_argument("--sites", nargs="+", default=list(SITES), choices=sorted(SITES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--max-steps", type=int, default=12)
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the shipped tiny model)")
    args = parser.parse_args(argv)

    console = Console()
    rows: dict[str, dict[str, list[float]]] = {
        name: {"success": [], "rejected": [], "steps": [], "generate_ms": []} for name in CONDITIONS
    }
    per_site: dict[tuple[str, str], list[bool]] = {}
    policy = open_policy(args.backend, args.model)
    with tempfile.TemporaryDirectory() as tmp, serve_sites() as server, launch(headless=True) as session:
        store = Store.open(Path(tmp) / "store", create=True)
        for site in args.sites:
            for seed in args.seeds:
                for name, constrain in CONDITIONS.items():
                    context = session.browser.new_context()
                    url = SITES[site].start_url(server.url, seed)
                    result = run_on_page(
                        store,
                        policy,
                        context.new_page(),
                        task=site,
                        url=url,
                        seed=seed,
                        max_steps=args.max_steps,
                        constrain=constrain,
                    )
                    context.close()
                    row = rows[name]
                    row["success"].append(float(bool(result.success)))
                    row["rejected"] += [float(step.outcome == "rejected") for step in result.steps]
                    row["steps"].append(float(len(result.steps)))
                    row["generate_ms"] += [step.timings_ms.get("generate", 0.0) for step in result.steps]
                    per_site.setdefault((site, name), []).append(bool(result.success))
        store.close()
    policy.close()

    summary = {
        name: {
            "runs": len(row["success"]),
            "success_rate": statistics.fmean(row["success"]),
            "rejected_step_share": statistics.fmean(row["rejected"]) if row["rejected"] else 0.0,
            "mean_steps": statistics.fmean(row["steps"]),
            "median_generate_ms": statistics.median(row["generate_ms"]) if row["generate_ms"] else 0.0,
        }
        for name, row in rows.items()
    }
    table = Table(title=f"agent on the bundled tasks, {args.backend}, seeds {args.seeds}, <= {args.max_steps} steps")
    for column in ("condition", "runs", "success", "rejected steps", "mean steps", "generate ms (median)"):
        table.add_column(column)
    for name, stats in summary.items():
        table.add_row(
            name,
            str(stats["runs"]),
            f"{stats['success_rate']:.0%}",
            f"{stats['rejected_step_share']:.0%}",
            f"{stats['mean_steps']:.1f}",
            f"{stats['median_generate_ms']:.0f}",
        )
    console.print(table)
    sites = {f"{site}/{name}": f"{sum(wins)}/{len(wins)}" for (site, name), wins in per_site.items()}
    console.print("successes per site: " + ", ".join(f"{key} {value}" for key, value in sites.items()))
    print(json.dumps({"backend": args.backend, "seeds": args.seeds, "summary": summary, "per_site": sites}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
