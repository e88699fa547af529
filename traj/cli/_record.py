"""``traj record`` and ``traj demos``: capture demonstrations in Chromium, list them."""

from __future__ import annotations

import contextlib
import runpy
from pathlib import Path
from typing import Annotated

import typer

from traj.cli._common import (
    HomeOption,
    JsonOption,
    console,
    err_console,
    parse_assignments,
    print_json,
    reports_errors,
    require,
    resolve_home,
    secret_source,
)

__all__ = ["demos", "record"]


@reports_errors
def record(
    url: Annotated[str | None, typer.Option(help="Start URL of the demonstration.")] = None,
    task: Annotated[str | None, typer.Option(help="Task name (default: the site's name).")] = None,
    goal: Annotated[str | None, typer.Option(help="Goal in words (default: the page's window.traj.goal).")] = None,
    site: Annotated[
        str | None, typer.Option(help="A bundled demo site to serve and record on (see 'traj sites serve').")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the bundled site's randomised content.")] = None,
    script: Annotated[
        str | None,
        typer.Option(help="A Python file defining demonstrate(page), or 'bundled' for the site's own script."),
    ] = None,
    headless: Annotated[
        bool | None, typer.Option("--headless/--headed", help="Default: headed when a display exists.")
    ] = None,
    until_url: Annotated[str | None, typer.Option(help="Stop when the URL matches this regular expression.")] = None,
    until_text: Annotated[str | None, typer.Option(help="Stop when the page shows this text.")] = None,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            help="name=value: a typed value that is a parameter of the task (the goal's values are, by default).",
        ),
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            "--secret",
            help='NAME: a value (from TRAJ_SECRET_<NAME>, or asked) stored only as {"secret": NAME} where typed.',
        ),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Record a demonstration: do the task in the browser (or let --script do it).

    Password fields are always recorded as secrets; --secret marks other values."""
    require("playwright")
    from rich.markup import escape

    from traj.browser import record as record_demo
    from traj.eventlog import Store

    if (url is None) == (site is None):
        raise typer.BadParameter("give either --url or --site")
    source = secret_source()
    secrets = {name: source.value(name) for name in secret or []}
    with contextlib.ExitStack() as stack:
        demonstrator = None
        if site is not None:
            from traj.sites import SITES, run_script, serve_sites

            if site not in SITES:
                raise typer.BadParameter(f"unknown site {site!r}; choose from {', '.join(SITES)}")
            server = stack.enter_context(serve_sites())
            seed = 0 if seed is None else seed
            url = SITES[site].start_url(server.url, seed)
            task = task or site
            if script == "bundled":
                name, base, chosen_seed = site, server.url, seed

                def demonstrator(page: object) -> None:
                    run_script(name, page, base, chosen_seed)

        if script is not None and demonstrator is None:
            demonstrator = _load_demonstrator(Path(script))
        if task is None:
            raise typer.BadParameter("give --task (a short name for what is demonstrated)")
        if demonstrator is None:
            err_console.print("do the task in the browser window; close it (or press Ctrl+C) when done")
        store = stack.enter_context(Store.open(resolve_home(home)))
        assert url is not None
        demo = record_demo(
            store,
            url,
            task=task,
            goal=goal,
            demonstrator=demonstrator,
            headless=headless,
            until_url=until_url,
            until_text=until_text,
            seed=seed,
            variables=parse_assignments(var, "--var"),
            secrets=secrets,
            on_warning=lambda text: err_console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False),
        )
    verdict = {True: "[green]success[/]", False: "[red]not successful[/]", None: "outcome unknown"}[demo.success]
    console.print(f"recorded demo {demo.demo_id}: {demo.actions} actions, {verdict} ({demo.stream})")


def _load_demonstrator(path: Path) -> object:
    from traj.errors import TrajError

    if not path.is_file():
        raise TrajError(f"script {path} not found (or pass --script bundled with --site)")
    demonstrate = runpy.run_path(str(path)).get("demonstrate")
    if not callable(demonstrate):
        raise TrajError(f"script {path} must define demonstrate(page)")
    return demonstrate


@reports_errors
def demos(ctx: typer.Context, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List recorded demonstrations: task, steps, outcome (unfinished ones say so).

    Piped, the rows are tab-separated with whole ids; --json prints one object per demo.
    'traj demos vars DEMO' shows and edits a demo's variables."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from traj.eventlog import Store
    from traj.projections import Projections

    with Projections(Store.open(resolve_home(home), readonly=True)) as projections:
        rows = projections.query(
            "SELECT demo_id, task, source, steps, success, finished_at IS NOT NULL AS finished, started_at "
            "FROM demos ORDER BY position"
        ).to_pylist()
    outcomes = {True: "success", False: "failed", None: "unknown"}
    for row in rows:
        row["outcome"] = outcomes[row["success"]] if row["finished"] else "unfinished"
        row["started_at"] = row["started_at"].isoformat()
    if as_json:
        print_json(rows)
        return
    header = ("demo", "task", "source", "steps", "outcome", "started")
    lines = [
        (r["demo_id"], r["task"], r["source"], str(r["steps"]), r["outcome"], r["started_at"][:16].replace("T", " "))
        for r in rows
    ]
    if not console.is_terminal:  # piped: whole values, tab-separated, for cut/awk/grep
        typer.echo("\n".join("\t".join(line) for line in (header, *lines)))
        return
    table = Table(header_style="bold")
    table.add_column("demo", no_wrap=True, min_width=max((len(r["demo_id"]) for r in rows), default=4))
    for column in header[1:]:
        table.add_column(column)
    for line in lines:
        table.add_row(*line)
    console.print(table)
    console.print(f"[dim]{len(rows)} demonstration{'s' if len(rows) != 1 else ''}[/]")
