"""``traj model``: the small local model traj ships and builds for itself (no downloads needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from traj.cli._common import console, reports_errors

__all__ = ["model_app"]

model_app = typer.Typer(help="The small local model: build it, see how well it decides.", no_args_is_help=True)


@model_app.command(name="build")
@reports_errors
def build_command(
    path: Annotated[
        Path, typer.Argument(help="An empty directory to build into (traj/tiny/shipped is the shipped one).")
    ],
    seed: Annotated[int, typer.Option(help="Seed of the tokenizer corpus, the weights and the data order.")] = 0,
    steps: Annotated[
        int | None,
        typer.Option(
            help="Pretraining steps (default: the library's; 0: the hand-built copying circuit alone).",
            show_default=False,
        ),
    ] = None,
    shape: Annotated[
        str, typer.Option(help="Model size: tiny (the shipped one, 2 CPU cores), small or medium (for a GPU).")
    ] = "tiny",
    tokens_per_batch: Annotated[
        int | None,
        typer.Option(help="Padded tokens per step (default: the recipe's 4096; a GPU wants more).", show_default=False),
    ] = None,
    device: Annotated[str, typer.Option(help="Where to train and evaluate: cpu, cuda or cuda:N.")] = "cpu",
    report_n: Annotated[int, typer.Option(help="Held-out decisions per condition in report.json.")] = 200,
    resume: Annotated[
        bool, typer.Option(help="Go on from the checkpoints a killed or interrupted build of PATH left.")
    ] = False,
) -> None:
    """Build the tiny model from its recipe and evaluate it on held-out synthetic sites (report.json)."""
    from traj.tiny import DEFAULT_STEPS, build_tiny

    steps = DEFAULT_STEPS if steps is None else steps
    result = build_tiny(
        path,
        seed=seed,
        steps=steps,
        shape=shape,
        tokens_per_batch=tokens_per_batch,
        device=device,
        report_n=report_n,
        resume=resume,
    )
    console.print(f"tiny model: {path}", highlight=False)
    from rich.table import Table

    table = Table("held-out decisions", "value", header_style="bold")
    table.add_row("decisions per condition", str(result.n))
    table.add_row("valid actions", f"{result.valid_action_rate:.1%}")
    table.add_row("next-action accuracy, no demonstration", f"{result.accuracy_without_demo:.1%}")
    table.add_row("... with a demonstration (other values)", f"{result.accuracy_with_demo:.1%}")
    table.add_row("... with the episode's own demonstration", f"{result.accuracy_with_own_demo:.1%}")
    console.print(table)


@model_app.command(name="continue")
@reports_errors
def continue_command(
    start: Annotated[Path, typer.Argument(help="The model to start from (a tiny model directory).")],
    path: Annotated[Path, typer.Argument(help="Where the continued model goes (may be START).")],
    seed: Annotated[int, typer.Option(help="Seed of the data order.")] = 0,
    steps: Annotated[
        int | None, typer.Option(help="Continuation steps (default: the recipe's).", show_default=False)
    ] = None,
    tokens_per_batch: Annotated[
        int | None, typer.Option(help="Padded tokens per step (default: the recipe's).", show_default=False)
    ] = None,
    device: Annotated[str, typer.Option(help="Where to train: cpu, cuda or cuda:N.")] = "cpu",
) -> None:
    """Teach a tiny model to look values up in the goal (the recipe's second stage).

    Checkpoints into PATH as it goes: the same command run again after a kill goes on from there.
    """
    from traj.tiny import continue_tiny

    summary = continue_tiny(start, path, seed=seed, steps=steps, tokens_per_batch=tokens_per_batch, device=device)
    console.print(
        f"continued {start} -> {path}: {summary['steps']} steps, {summary['tokens']} tokens, "
        f"loss {summary['final_loss']}",
        highlight=False,
    )
