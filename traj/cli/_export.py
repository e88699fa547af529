"""``traj export``: a training dataset from the log, as JSON lines or Parquet, reproducible by position."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from traj.cli._common import HomeOption, console, reports_errors, resolve_home

__all__ = ["export"]


@reports_errors
def export(
    strategy: Annotated[str | None, typer.Option(help="from_feedback, from_runs, sdft or preference.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or parquet.")] = "jsonl",
    as_of: Annotated[
        int | None, typer.Option("--as-of", min=0, help="Only events before this position (default: all).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output file (default: <strategy>-<position>.<format>).")] = None,
    per_decision: Annotated[bool, typer.Option(help="from_runs: one row per step instead of per run.")] = False,
    teacher_layout: Annotated[
        str,
        typer.Option(
            help="sdft: teacher_prompt with the demonstration after the rules (rules, traj's) or after the "
            "whole prompt (appended: the teacher TRL's SDFTTrainer builds from prompt and privileged_context)."
        ),
    ] = "rules",
    demo: Annotated[
        list[str] | None, typer.Option("--demo", help="Bundle this demo (repeatable) for 'traj train --remote'.")
    ] = None,
    tar: Annotated[Path | None, typer.Option(help="With --demo: the tar.gz to write (events + blobs).")] = None,
    home: HomeOption = None,
) -> None:
    """Export a training dataset (--strategy), or demos as a bundle (--demo ID --tar PATH)."""
    if demo or tar is not None:
        _export_bundle(demo or [], tar, home)
        return
    if strategy is None:
        raise typer.BadParameter("give --strategy, or --demo ID --tar PATH")
    from traj.datasets import FORMATS, STRATEGIES, TEACHER_LAYOUTS, export_dataset, write_export
    from traj.eventlog import Store

    if strategy not in STRATEGIES:
        raise typer.BadParameter(f"--strategy is one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if teacher_layout not in TEACHER_LAYOUTS:
        raise typer.BadParameter(f"--teacher-layout is one of {', '.join(TEACHER_LAYOUTS)}, not {teacher_layout!r}")
    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format is one of {', '.join(FORMATS)}, not {fmt!r}")
    with Store.open(resolve_home(home), readonly=True) as store:
        dataset = export_dataset(
            store,
            strategy,  # type: ignore[arg-type]
            as_of=as_of,
            per_decision=per_decision,
            teacher_layout=teacher_layout,  # type: ignore[arg-type]
        )
    path = write_export(dataset, out or Path(f"{strategy}-{dataset.as_of}.{fmt}"), fmt)  # type: ignore[arg-type]
    console.print(
        f"wrote {dataset.table.num_rows} {strategy} rows as of position {dataset.as_of} to {path} "
        f"(rebuild with --as-of {dataset.as_of})",
        highlight=False,
    )


def _export_bundle(demo_ids: list[str], tar: Path | None, home: Path | None) -> None:
    from traj.eventlog import Store, export_demos

    if not demo_ids or tar is None:
        raise typer.BadParameter("a bundle needs both --demo ID and --tar PATH")
    with Store.open(resolve_home(home), readonly=True) as store:
        summary = export_demos(store, demo_ids, tar)
    console.print(
        f"wrote {summary.events} events of {len(summary.demo_ids)} demo(s) in {summary.streams} streams "
        f"and {summary.blobs} blobs to {tar}",
        highlight=False,
    )
