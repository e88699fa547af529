"""Pretraining the small model at a larger shape on a GPU: what a lent GPU is for (issue 25).

Builds each named shape (``traj.tiny.SHAPES``) with the shipped recipe on ``--device`` for
``--steps`` steps of ``--tokens-per-batch`` tokens, through ``traj.tiny.build_tiny`` (the code
path of ``traj model build``), and evaluates it on held-out synthetic sites. The baseline is
the shipped model's report (``traj/tiny/shipped/report.json``: the tiny shape, 400 steps of 4096
tokens on 2 CPU cores), so each line says how far more tokens and parameters move the
held-out accuracy with a demonstration. Each model is written to ``--out/SHAPE`` (a directory
to copy back and ship); the last line is JSON.

    python bench/pretrain.py --device cuda --shapes small,medium --steps 2000 --tokens-per-batch 32768 --out $OUT
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from traj.tiny import SHAPES, SHIPPED, build_tiny


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--shapes", default="small", help=f"comma-separated, of {', '.join(SHAPES)}")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--tokens-per-batch", type=int, default=None, help="default: the recipe's 4096")
    parser.add_argument("--report-n", type=int, default=200, help="held-out decisions per condition")
    parser.add_argument("--out", type=Path, required=True, help="an empty directory: one model per shape")
    args = parser.parse_args()
    baseline = json.loads((SHIPPED / "report.json").read_text())
    results: dict[str, object] = {"shipped": baseline}
    for shape in args.shapes.split(","):
        started = time.perf_counter()
        report = build_tiny(
            args.out / shape,
            shape=shape,
            steps=args.steps,
            tokens_per_batch=args.tokens_per_batch,
            device=args.device,
            report_n=args.report_n,
            progress=False,
        )
        summary = json.loads((args.out / shape / "traj-tiny.json").read_text())
        line = asdict(report) | {
            "seconds": round(time.perf_counter() - started, 1),
            "tokens": summary["tokens"],
            "tokens_per_second": summary["tokens_per_second"],
            "final_loss": summary["final_loss"],
            "parameters": summary.get("shape", {}).get("parameters"),
            "with_demo_vs_shipped": round(report.accuracy_with_demo - baseline["accuracy_with_demo"], 3),
        }
        results[shape] = line
        print(f"{shape}: {json.dumps(line)}", flush=True)
    print(json.dumps({"bench": "pretrain", "device": args.device, "steps": args.steps, "shapes": results}), flush=True)


if __name__ == "__main__":
    main()
