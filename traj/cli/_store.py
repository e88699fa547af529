"""Store maintenance commands: ``traj stats``, ``traj compact``, ``traj verify``, ``traj sample``."""

from __future__ import annotations

from typing import Annotated

import typer

from traj.cli._common import HomeOption, JsonOption, console, err_console, print_json, reports_errors, resolve_home

__all__ = ["compact", "sample", "stats", "verify"]


@reports_errors
def stats(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Show what the store holds: events by type, streams, segments, WAL and blobs."""
    from rich.table import Table

    from traj.eventlog import Store, store_stats

    report = store_stats(Store.open(resolve_home(home), readonly=True))
    if as_json:
        print_json(report)
        return
    summary = Table.grid(padding=(0, 2))
    summary.add_row("store", str(report.home))
    summary.add_row("events", f"{report.events:,}")
    summary.add_row("streams", f"{report.streams:,}")
    summary.add_row("segments", f"{report.segments:,} ({_size(report.segment_bytes)})")
    summary.add_row(
        "WAL", f"{report.wal_files:,} file(s), {report.wal_events:,} unsealed events ({_size(report.wal_bytes)})"
    )
    summary.add_row("blobs", f"{report.blobs:,} ({_size(report.blob_bytes)})")
    console.print(summary)
    by_type = Table("type", "events", header_style="bold")
    for event_type, count in report.by_type.items():
        by_type.add_row(event_type, f"{count:,}")
    console.print(by_type)
    for name, problem in report.damaged.items():
        err_console.print(f"[red]damaged:[/] {name}: {problem}", highlight=False)


@reports_errors
def compact(
    home: HomeOption = None,
    merge_rows: Annotated[int, typer.Option(help="Merge adjacent segments up to this many rows.")] = 1_000_000,
) -> None:
    """Seal the write-ahead log into Parquet and merge small segments."""
    from traj.eventlog import Store

    with Store.open(resolve_home(home), create=False) as store:
        for line in store.recovery:
            err_console.print(f"[yellow]recovered:[/] {line}", highlight=False)
        before = len(store.manifest.segments)
        merged = store.compact(merge_rows=merge_rows)
        console.print(
            f"sealed the WAL; {before} segment(s) -> {len(store.manifest.segments)} "
            f"({len(merged)} merge(s)); {store.next_position:,} events"
        )


@reports_errors
def verify(
    home: HomeOption = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="First rebuild manifest.json from the segment files (when it is lost, stale or unreadable).",
        ),
    ] = False,
) -> None:
    """Check checksums, the manifest, seqs and blob references; exit 1 on damage."""
    from traj.eventlog import repair_manifest, verify_store

    if repair:
        repaired = repair_manifest(resolve_home(home))
        manifest = repaired.manifest
        for name, why in repaired.left_out.items():
            console.print(f"[yellow]note:[/] segments/{name} left out of the manifest: {why}", highlight=False)
        if repaired.changed:
            console.print(
                f"rebuilt manifest.json: {len(manifest.segments)} segment(s), positions 0..{manifest.next_position - 1}"
            )
        else:
            console.print("manifest.json already lists every segment; nothing to rebuild")
    report = verify_store(resolve_home(home))
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    for problem in report.problems:
        err_console.print(f"[red]problem:[/] {problem}", highlight=False)
    summary = (
        f"{report.events:,} events, {report.segments} segment(s), {report.wal_files} WAL file(s), "
        f"{report.blobs_checked} blob(s) checked"
    )
    if not report.ok:
        err_console.print(f"[bold red]damaged[/]: {len(report.problems)} problem(s); {summary}")
        raise typer.Exit(1)
    console.print(f"[bold green]ok[/]: {summary}")


@reports_errors
def sample(
    home: HomeOption = None,
    demos: Annotated[int, typer.Option(help="Number of synthetic demonstrations.")] = 20,
    steps: Annotated[int, typer.Option(help="Actions per demonstration.")] = 6,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic page contents.")] = 0,
) -> None:
    """Write synthetic form-filling demonstrations (source=script) into the store."""
    from rich.progress import track

    from traj.eventlog import Store
    from traj.sample import write_sample_demos

    with Store.open(resolve_home(home)) as store:
        before = store.next_position
        for i in track(range(demos), description="writing sample demos", console=err_console, transient=True):
            write_sample_demos(store, 1, steps=steps, seed=seed + i)
        added = store.next_position - before
        console.print(f"{demos} sample demonstrations in {store.home} ({added:,} events)")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")
