"""``traj record``: capture a demonstration in Chromium."""

from __future__ import annotations

import contextlib
import runpy
from pathlib import Path
from typing import Annotated

import typer

from traj.cli._common import (
    HomeOption,
    console,
    err_console,
    parse_assignments,
    reports_errors,
    require,
    resolve_home,
    secret_source,
)

__all__ = ["record"]


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
    success_text: Annotated[
        list[str] | None,
        typer.Option("--success-text", help="Text the page shows once the task is done ({name}: a variable)."),
    ] = None,
    success_url: Annotated[
        str | None, typer.Option("--success-url", help="Regular expression the URL matches once the task is done.")
    ] = None,
    success_js: Annotated[
        str | None, typer.Option("--success-js", help="JavaScript expression that is truthy once the task is done.")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Record a demonstration: do the task in the browser (or let --script do it).

    Password fields are always recorded as secrets; --secret marks other values. The end
    state becomes the demo's success spec (the page's window.traj.check() when it has one,
    else the URL reached and text that appeared after the last action), unless --success-text,
    --success-url or --success-js state it (edit it later with 'traj demos success')."""
    require("playwright")
    from rich.markup import escape

    from traj.browser import make_success_spec, unconfirmed_values
    from traj.browser import record as record_demo
    from traj.eventlog import Store
    from traj.projections import load_demo

    if (url is None) == (site is None):
        raise typer.BadParameter("give either --url or --site")
    given = make_success_spec(url=success_url or "", texts=success_text or [], js=success_js or "")
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
            success_spec=None if given.empty else given,
            on_warning=lambda text: err_console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False),
        )
        recorded = load_demo(store, demo.demo_id)
        unconfirmed = unconfirmed_values(recorded.success_spec, recorded.success_source, recorded.variables)
        if unconfirmed:
            err_console.print(
                f"[yellow]note:[/] the end state shows nothing of {', '.join(unconfirmed)}: replays with other "
                "values will report success unknown; say what success looks like with --success-text or "
                f"--success-js (or later: traj demos success {demo.demo_id})",
                highlight=False,
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
