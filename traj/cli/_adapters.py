"""``traj adapters``: list trained adapters with their lineage, convert between formats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from traj.cli._common import HomeOption, console, reports_errors, resolve_home

__all__ = ["adapters_app"]

adapters_app = typer.Typer(help="Trained LoRA adapters: lineage and formats.", no_args_is_help=True)


@adapters_app.command(name="list")
@reports_errors
def list_adapters(home: HomeOption = None) -> None:
    """Adapters in the store: the job that made each, its objective, data and final KL."""
    from rich.table import Table

    from traj.eventlog import Store
    from traj.projections import Projections

    with Store.open(resolve_home(home), readonly=True) as store, Projections(store) as projections:
        rows = projections.query(
            """
            SELECT a.name, string_agg(a.format, ', ' ORDER BY a.format) AS formats, any_value(a.parent) AS parent,
                   any_value(t.objective) AS objective, any_value(t.steps) AS steps, any_value(t.last_kl) AS last_kl,
                   any_value(json_array_length(t.dataset->'demo_ids')) AS demos,
                   any_value(json_array_length(t.dataset->'event_ids')) AS decisions,
                   min(a.created_at) AS created
            FROM adapters a LEFT JOIN train_runs t USING (job_id)
            GROUP BY a.name ORDER BY created
            """
        ).to_pylist()
    if not rows:
        console.print("no adapters yet (see 'traj train')")
        return
    table = Table(header_style="bold")
    table.add_column("adapter", no_wrap=True)  # the name is what people copy: never cut it
    for column in ("formats", "objective", "steps", "final KL", "demos", "decisions", "parent"):
        table.add_column(column)
    for r in rows:
        kl = "" if r["last_kl"] is None else f"{r['last_kl']:.4f}"
        table.add_row(
            r["name"],
            r["formats"],
            r["objective"] or "",
            str(r["steps"] or ""),
            kl,
            str(r["demos"] or 0),
            str(r["decisions"] or 0),
            r["parent"] or "",
        )
    console.print(table)


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
    from traj.policy._adapter_formats import detect_adapter_format, mlx_to_peft, peft_to_mlx

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
