"""``traj demos``: list the recorded demonstrations, and show or edit what a demo's success looks like."""

from __future__ import annotations

from typing import Annotated

import typer

from traj.cli._common import HomeOption, JsonOption, console, print_json, reports_errors, resolve_home

__all__ = ["demos_app"]

demos_app = typer.Typer(
    name="demos",
    help="List recorded demonstrations; show or edit a demo's success spec and variables.",
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@demos_app.callback(invoke_without_command=True)
@reports_errors
def demos(ctx: typer.Context, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List recorded demonstrations: task, steps, outcome (unfinished ones say so).

    Piped, the rows are tab-separated with whole ids; --json prints one object per demo.
    'traj demos success DEMO' shows or edits a demo's success spec, 'traj demos vars DEMO' its variables."""
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


@demos_app.command()
@reports_errors
def success(
    demo: Annotated[str, typer.Argument(help="The demo id (see 'traj demos').")],
    text: Annotated[
        list[str] | None, typer.Option("--text", help="Text the page shows once the task is done ({name}: a variable).")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="Regular expression the URL matches once done.")] = None,
    js: Annotated[str | None, typer.Option("--js", help="JavaScript expression that is truthy once done.")] = None,
    page_check: Annotated[
        bool, typer.Option("--page-check", help="The page's own window.traj.check() must say success.")
    ] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a demo's success spec; with --text/--url/--js/--page-check, replace it.

    Replay, eval and run judge success by it: every part given must hold."""
    from traj.browser import make_success_spec
    from traj.eventlog import Store
    from traj.projections import load_demo

    spec = make_success_spec(url=url or "", texts=text or [], js=js or "", page_check=page_check)
    if spec.empty:
        with Store.open(resolve_home(home), readonly=True) as store:
            spec = load_demo(store, demo).success_spec
    else:
        from traj.replay import set_success_spec

        with Store.open(resolve_home(home)) as store:
            set_success_spec(store, demo, spec)
    if as_json:
        print_json(spec)
        return
    if spec is None or spec.empty:
        console.print(f"demo {demo} has no success spec: its replays report success as unknown", highlight=False)
        return
    parts = [f"URL matches {spec.url!r}"] if spec.url else []
    parts += [f"page shows {t!r}" for t in spec.texts]
    parts += [f"{spec.js!r} is truthy"] if spec.js else []
    parts += ["window.traj.check() says success"] if spec.page_check else []
    console.print(f"demo {demo} succeeds when: " + "; ".join(parts), highlight=False, markup=False)
