"""``traj query``: SQL over the projections, printed as a table, JSON, CSV or Parquet."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from traj.cli._common import HomeOption, console, err_console, reports_errors, resolve_home

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.text import Text

__all__ = ["query"]


@reports_errors
def query(
    sql: Annotated[str | None, typer.Argument(help="One SELECT statement over the projection views.")] = None,
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON lines.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print rows as CSV.")] = False,
    parquet: Annotated[Path | None, typer.Option("--parquet", help="Write the result to this Parquet file.")] = None,
    as_of: Annotated[
        int | None, typer.Option("--as-of", min=0, help="Only events before this global position.")
    ] = None,
    views: Annotated[bool, typer.Option("--views", help="List the views and what each holds.")] = False,
    limit: Annotated[int, typer.Option(min=0, help="Rows shown in the table view (0 = all).")] = 50,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="With a damaged segment, print the rows of the healthy ones (with a warning) instead of failing.",
        ),
    ] = False,
) -> None:
    """Run SQL over the projections (demos, steps, sdft_examples, lineage, ...)."""
    from traj.eventlog import Store
    from traj.projections import Projections

    if sum((as_json, as_csv, parquet is not None)) > 1:
        raise typer.BadParameter("choose one output: --json, --csv or --parquet")
    if sql is None and not views:
        raise typer.BadParameter('give a SQL statement, e.g. traj query "SELECT * FROM demos"')

    with Projections(Store.open(resolve_home(home), readonly=True), as_of=as_of) as projections:
        if views:
            _warn(projections.damaged)
            for name, description in projections.views().items():
                console.print(f"[bold]{name}[/]  {description}", highlight=False)
            return
        table = projections.query(sql)
        damaged = projections.damaged  # of the snapshot the query read
    if damaged and not allow_partial:
        from traj.errors import CorruptSegmentError

        # The answer lacks the damaged segments' rows: a script must not take it for the whole log.
        raise CorruptSegmentError(
            f"{'; '.join(damaged.values())}: its rows are left out of every view, so the answer is partial "
            "(pass --allow-partial to print it anyway)"
        )
    _warn(damaged)
    if parquet is not None:
        _write_parquet(table, parquet)
    elif as_json:
        import msgspec

        encoder = msgspec.json.Encoder(decimal_format="number")  # sum() of ints is a DECIMAL in DuckDB
        for row in table.to_pylist():
            sys.stdout.write(encoder.encode(row).decode() + "\n")
    elif as_csv:
        import pyarrow.csv as pacsv

        buffer = sys.stdout.buffer
        pacsv.write_csv(_nested_as_json(table), buffer)
        buffer.flush()
    else:
        _print_table(table, limit)


def _warn(damaged: dict[str, str]) -> None:
    for name, problem in damaged.items():
        err_console.print(f"[yellow]warning:[/] {name} left out of every view: {problem}", highlight=False)


def _write_parquet(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    from traj.errors import TrajError, one_line

    try:
        pq.write_table(table, path, compression="zstd")
    except OSError as exc:
        raise TrajError(f"cannot write {path}: {one_line(exc)}") from None
    console.print(f"wrote {table.num_rows} rows to {path}")


def _nested_as_json(table: pa.Table) -> pa.Table:
    """CSV has no lists or structs: write those cells as JSON text."""
    import msgspec
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if pa.types.is_nested(field.type):
            texts = [None if v is None else msgspec.json.encode(v).decode() for v in table.column(i).to_pylist()]
            table = table.set_column(i, field.name, pa.array(texts, pa.string()))
    return table


def _print_table(table: pa.Table, limit: int) -> None:
    """A table when its columns fit the terminal's width, else one record after another.

    Squeezed into too few columns, rich would fold every cell and header into a letter per line
    (24 columns at 80 characters: about 1,000 lines for 5 rows); the record view keeps one line
    per value, cut to the width (``--json`` or ``--csv`` print everything).
    """
    from rich.table import Table

    shown = table if not limit else table.slice(0, limit)
    rows = [[_cell(v) for v in row.values()] for row in shown.to_pylist()]
    names = shown.column_names
    natural = [
        max([len(name)] + [min(len(cell.plain), _MAX_WIDTH) for cell in column])
        for name, column in zip(names, zip(*rows, strict=True) if rows else [()] * len(names), strict=True)
    ]
    if sum(natural) + 3 * len(names) + 1 > console.width:
        _print_records(names, rows)
    else:
        out = Table(show_lines=False, header_style="bold")
        for name in names:
            out.add_column(name, overflow="fold", max_width=_MAX_WIDTH)
        for row in rows:
            out.add_row(*row)
        console.print(out)
    total = table.num_rows
    more = f" (showing {shown.num_rows}; use --limit 0 or --json for all)" if shown.num_rows < total else ""
    console.print(f"[dim]{total} row{'s' if total != 1 else ''}{more}[/]")


_MAX_WIDTH = 60


def _print_records(names: list[str], rows: list[list[Text]]) -> None:
    from rich.text import Text

    pad = max(len(name) for name in names)
    room = max(10, console.width - pad - 2)
    for number, row in enumerate(rows, start=1):
        console.print(Text(f"-[ row {number} ]", style="bold"))
        for name, cell in zip(names, row, strict=True):
            value = Text(" ".join(cell.plain.split()), style=cell.style)
            if len(value) > room:
                value = value[: room - 3] + Text("...")
            console.print(Text(f"{name:<{pad}}  ") + value, soft_wrap=False, overflow="crop", no_wrap=True)


def _cell(value: object) -> Text:
    from rich.text import Text

    if value is None:
        return Text("null", style="dim")
    text = str(value)
    return Text(text if len(text) <= 200 else text[:197] + "...")
