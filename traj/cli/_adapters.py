"""``traj adapters``: list trained adapters with their lineage, register a task's specialist, roll it back,
convert between formats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from traj.cli._common import HomeOption, JsonOption, console, print_json, reports_errors, resolve_home

__all__ = ["adapters_app"]

adapters_app = typer.Typer(help="Trained LoRA adapters: lineage, specialists, formats.", no_args_is_help=True)


@adapters_app.command(name="list")
@reports_errors
def list_adapters(
    task: Annotated[
        str | None,
        typer.Option(help="Only this task's adapters (trained on its data, made for it or registered for it)."),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Adapters in the store: the job that made each, its data, final KL, parent, and which is a specialist."""
    from rich.table import Table

    from traj.eventlog import Store
    from traj.specialists import adapter_summaries

    with Store.open(resolve_home(home), readonly=True) as store:
        summaries = adapter_summaries(store, task)
    if as_json:
        print_json(summaries)
        return
    if not summaries:
        console.print(f"no adapters {'of task ' + repr(task) + ' ' if task else ''}yet (see 'traj train')")
        return
    table = Table(header_style="bold")
    # the name is what people copy: never cut it
    table.add_column("adapter", no_wrap=True, min_width=max(len(s.name) for s in summaries))
    for column in ("formats", "objective", "steps", "final KL", "demos", "decisions", "parent", "specialist of"):
        table.add_column(column)
    for s in summaries:
        kl = "" if s.last_kl is None else f"{s.last_kl:.4f}"
        table.add_row(
            s.name,
            s.formats,
            s.objective or "",
            str(s.steps or ""),
            kl,
            str(s.demos),
            str(s.decisions),
            s.parent or "",
            ", ".join(s.specialist_of),
        )
    console.print(table)
    if task is not None:
        current = [s.name for s in summaries if task in s.specialist_of]
        said = f"specialist {current[0]}" if current else "no registered specialist: runs use the base model"
        console.print(f"task {task}: {said}", highlight=False)


@adapters_app.command()
@reports_errors
def register(
    adapter: Annotated[str, typer.Argument(help="The adapter's name in the store.")],
    task: Annotated[str, typer.Option(help="The task whose specialist it becomes.")],
    note: Annotated[str, typer.Option(help="Why, in words.")] = "",
    home: HomeOption = None,
) -> None:
    """Register an adapter as a task's specialist: 'traj run --task TASK' loads it by default."""
    from traj.eventlog import Store
    from traj.specialists import register_specialist

    with Store.open(resolve_home(home)) as store:
        change = register_specialist(store, adapter, task, note=note)
    was = f" (was {change.previous})" if change.previous else " (was the base model)"
    console.print(f"task {change.task}: specialist {change.adapter}{was}", highlight=False)


@adapters_app.command()
@reports_errors
def rollback(
    adapter: Annotated[
        str | None, typer.Argument(help="Roll back every task whose specialist this adapter is.", show_default=False)
    ] = None,
    task: Annotated[str | None, typer.Option(help="Roll back this task's specialist.", show_default=False)] = None,
    to: Annotated[
        str | None, typer.Option(help="The adapter to return to (default: the parent in lineage).", show_default=False)
    ] = None,
    note: Annotated[str, typer.Option(help="Why, in words.")] = "",
    home: HomeOption = None,
) -> None:
    """Return a task's specialist to an earlier adapter (its parent, or --to NAME), recorded as an event."""
    from traj.eventlog import Store
    from traj.specialists import rollback_specialist

    with Store.open(resolve_home(home)) as store:
        changes = rollback_specialist(store, adapter, task=task, to=to, note=note)
    for change in changes:
        console.print(f"task {change.task}: specialist {change.adapter} (rolled back from {change.previous})")


@adapters_app.command()
@reports_errors
def convert(
    src: Annotated[Path, typer.Argument(help="An adapter directory (PEFT or mlx-lm).")],
    dst: Annotated[Path, typer.Argument(help="Where to write the converted adapter.")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="Target format: mlx or peft (default: the other one).", show_default=False),
    ] = None,
    base_model: Annotated[
        str | None,
        typer.Option(help="The base model (directory or hub id): recorded in the config, its layer count checked."),
    ] = None,
) -> None:
    """Convert a LoRA adapter from PEFT to mlx-lm format or back (the source format is detected)."""
    from traj.policy import detect_adapter_format, mlx_to_peft, peft_to_mlx

    if to not in (None, "mlx", "peft"):
        raise typer.BadParameter(f"--to takes mlx or peft, not {to!r}")
    source = detect_adapter_format(src)
    target = to or ("mlx" if source == "peft" else "peft")
    if target == source:
        raise typer.BadParameter(f"{src} is already a {source} adapter")
    written = (
        peft_to_mlx(src, dst, base_model=base_model)
        if target == "mlx"
        else mlx_to_peft(src, dst, base_model=base_model)
    )
    console.print(f"converted {source} adapter {src} -> {target} adapter {written}", highlight=False)
