"""``traj enrich``: a vision model explains each step of a demonstration, for the SDFT teacher."""

from __future__ import annotations

from typing import Annotated

import typer

from traj.cli._common import HomeOption, console, err_console, reports_errors, resolve_home

__all__ = ["enrich"]


@reports_errors
def enrich(
    demo: Annotated[list[str], typer.Argument(help="Demo ids to enrich (see 'traj demos').", show_default=False)],
    model: Annotated[
        str | None, typer.Option(help="The served vision model (default: meta/llama-3.2-90b-vision-instruct).")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible API base URL (default: NVIDIA NIM, https://integrate.api.nvidia.com/v1)."),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight at once.")] = 4,
    force: Annotated[bool, typer.Option(help="Enrich again; the new events supersede the old ones.")] = False,
    timeout: Annotated[float, typer.Option(min=0.001, help="Seconds one request may take.")] = 60.0,
    demo_timeout: Annotated[float, typer.Option(min=0.001, help="Seconds one demo may take in all.")] = 900.0,
    retries: Annotated[int, typer.Option(min=0, help="Extra requests after 429/5xx or a refused connection.")] = 2,
    home: HomeOption = None,
) -> None:
    """Explain every step of each DEMO with a vision model; cached, so a rerun calls only for what is missing.

    The key comes from TRAJ_ENRICH_API_KEY, else NVIDIA_API_KEY for NIM; a server on this
    machine needs none. A step that fails (no key, timeout, 429, 5xx, refused, malformed
    answer) is recorded with its reason and trains on its raw action: the exit status is 0.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from traj.enrich import DEFAULT_MODEL, NIM_BASE_URL, EnrichConfig, enrichment_coverage
    from traj.enrich import enrich as run_enrich
    from traj.eventlog import Store
    from traj.projections import load_demo

    config = EnrichConfig(
        model=model or DEFAULT_MODEL,
        base_url=base_url or NIM_BASE_URL,
        concurrency=concurrency,
        timeout_s=timeout,
        demo_timeout_s=demo_timeout,
        max_retries=retries,
        force=force,
    )
    with Store.open(resolve_home(home), create=False) as store:
        for demo_id in demo:  # every id is checked before anything is written
            load_demo(store, demo_id)
        results = []
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
        with Progress(*columns, console=console) as progress:
            for demo_id in demo:
                bar = progress.add_task(f"enrich {demo_id}", total=None)
                results.append(
                    run_enrich(
                        store,
                        demo_id,
                        config,
                        on_step=lambda _, done, total, bar=bar: progress.update(bar, completed=done, total=total),
                    )
                )
        coverage = enrichment_coverage(store, demo)
    for result in results:
        console.print(
            f"{result.demo_id}: {result.count('enriched')} enriched, {result.count('cached')} cached, "
            f"{result.count('failed')} failed; {result.calls} requests to {config.model} at {config.base_url}",
            highlight=False,
        )
        for step in result.failed:
            err_console.print(f"  [yellow]step {step.step}: {step.reason}[/] {step.detail}", highlight=False)
        if result.failed:
            err_console.print(
                f"  those steps train on their raw action; run 'traj enrich {result.demo_id}' again to retry them",
                highlight=False,
            )
        console.print(f"  teacher context: {coverage[result.demo_id].describe()}", highlight=False)
