"""``traj model``: the small local model traj builds for itself (no downloads needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from traj.cli._common import console, reports_errors

__all__ = ["model_app"]

model_app = typer.Typer(help="The small local model: build it, see how well it decides.", no_args_is_help=True)


@model_app.command(name="init-tiny")
@reports_errors
def init_tiny_command(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Where to write it (default: cached under $TRAJ_CACHE or ~/.cache/traj).", show_default=False
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the tokenizer corpus, the weights and the data order.")] = 0,
    steps: Annotated[
        int | None, typer.Option(help="Pretraining steps (default: the library's).", show_default=False)
    ] = None,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="Evaluate it on held-out synthetic sites (about a minute).")
    ] = True,
) -> None:
    """Build (or reuse) the tiny pretrained model: a Hugging Face directory any backend loads."""
    from traj.tiny import DEFAULT_STEPS, evaluate_tiny, init_tiny

    built = init_tiny(path, seed=seed, steps=DEFAULT_STEPS if steps is None else steps, progress=True)
    console.print(f"tiny model: {built}", highlight=False)
    if not report:
        return
    from rich.table import Table

    with console.status("evaluating on held-out synthetic sites"):
        result = evaluate_tiny(built)
    table = Table("held-out decisions", "value", header_style="bold")
    table.add_row("decisions per condition", str(result.n))
    table.add_row("valid actions", f"{result.valid_action_rate:.1%}")
    table.add_row("next-action accuracy, no demonstration", f"{result.accuracy_without_demo:.1%}")
    table.add_row("... with a demonstration (other values)", f"{result.accuracy_with_demo:.1%}")
    table.add_row("... with the episode's own demonstration", f"{result.accuracy_with_own_demo:.1%}")
    console.print(table)
