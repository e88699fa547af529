"""``traj demo``: from one demonstration to a trained agent, with success measured before and after."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from traj.cli._common import console, reports_errors, require

__all__ = ["demo"]

_SPARKS = "▁▂▃▄▅▆▇█"


@reports_errors
def demo(
    task: Annotated[str, typer.Argument(help="A bundled task (traj sites list).")] = "expense",
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Store directory (default: a fresh one under the temp dir).", show_default=False),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Unseen seeds to measure the agent on.", min=1)] = 6,
    steps: Annotated[int | None, typer.Option(help="SDFT steps (default: 30).", show_default=False)] = None,
    model: Annotated[
        Path | None, typer.Option(help="Model directory (default: the tiny model).", show_default=False)
    ] = None,
) -> None:
    """Record the bundled demonstration, train an SDFT adapter on it and measure the agent before and after."""
    require("playwright", "torch")
    from dataclasses import replace

    from traj.demo import DEMO_TRAINING, DemoSettings, run_demo

    home = home or Path(tempfile.mkdtemp(prefix=f"traj-demo-{task}-"))
    settings = DemoSettings(
        task=task,
        eval_seeds=tuple(range(101, 101 + seeds)),
        training=replace(DEMO_TRAINING, max_steps=steps or DEMO_TRAINING.max_steps),
        model=model,
    )
    console.print(f"[bold]traj demo[/]: teaching the agent [cyan]{task}[/] from one demonstration (store: {home})")
    report = run_demo(home, settings, log=lambda line: console.print(f"  [dim]{line}[/]", highlight=False))

    from rich.table import Table

    table = Table("seed", "before", "after", title=f"{task}: agent on unseen seeds", header_style="bold")
    for seed in report.seeds:
        table.add_row(str(seed.seed), _mark(seed.before, seed.before_steps), _mark(seed.after, seed.after_steps))
    table.add_row(
        "success", f"{report.success_before:.0%}", f"{report.success_after:.0%}", style="bold", end_section=True
    )
    console.print(table)
    console.print(f"KL per step  {_sparkline(report.kl)}  ({report.kl[0]:.4f} -> {report.kl[-1]:.4f})")
    console.print("time  " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.phases.items()))
    console.print(
        f"turnaround (recording done -> adapter serving) {report.turnaround_s:.1f} s; "
        f"action generation {report.tokens_per_s:.1f} tokens/s; teacher context: {report.enrichment}",
        highlight=False,
    )
    console.print(
        f"trained on the demonstration and {report.instances}/{len(settings.train_seeds)} observed instances "
        f"(seeds {settings.train_seeds[0]}..{settings.train_seeds[-1]}, replayed without a model)",
        highlight=False,
    )
    console.print(f"store {report.home}: demo {report.demo_id}, training job {report.job_id}, adapter {report.adapter}")
    console.print("next, try:")
    for line in report.queries():
        console.print(f"  {line}", highlight=False, markup=False)


def _mark(success: bool, steps: int) -> str:
    return f"[green]success[/] ({steps} steps)" if success else f"[red]failed[/] ({steps} steps)"


def _sparkline(values: list[float]) -> str:
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(_SPARKS[round((value - low) / span * (len(_SPARKS) - 1))] for value in values)
