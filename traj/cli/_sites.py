"""``traj sites``: serve the bundled demo sites locally."""

from __future__ import annotations

from typing import Annotated

import typer

from traj.cli._common import console, reports_errors

__all__ = ["sites_app"]

sites_app = typer.Typer(
    name="sites",
    help="The five bundled demo sites the tasks are taught and tested on.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@sites_app.command()
@reports_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (keep 127.0.0.1 unless you mean to share it).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed shown in the start URLs (every seed is a different world).")] = 0,
) -> None:
    """Serve the demo sites until Ctrl+C, printing each task's start URL."""
    from traj.sites import SITES, SiteServer

    server = SiteServer(host, port)
    console.print(f"demo sites at [bold]{server.url}/[/] (Ctrl+C to stop)", highlight=False)
    # One plain line per task: a URL must never be wrapped or cut, so it stays clickable and greppable.
    width = max(len(name) for name in SITES)
    urls = {name: site.start_url(server.url, seed) for name, site in SITES.items()}
    url_width = max(len(url) for url in urls.values())
    for name, site in SITES.items():
        console.print(f"  {name:<{width}}  {urls[name]:<{url_width}}  {site.task}", highlight=False, markup=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")
