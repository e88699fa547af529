"""``traj view``: serve the local web viewer over a store and open it in the browser."""

from __future__ import annotations

from typing import Annotated

import typer

from traj.cli._common import HomeOption, console, reports_errors, resolve_home

__all__ = ["view"]


@reports_errors
def view(
    home: HomeOption = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free one).")] = 8765,
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="Open the page in the browser.")] = True,
) -> None:
    """Browse demos, runs, replays, training curves and adapter lineage in a local web page."""
    import threading
    import webbrowser

    from traj.serve import serve_in_thread
    from traj.view import create_app

    app = create_app(resolve_home(home))
    with serve_in_thread(app, port=port) as url:
        console.print(f"traj view on [bold]{url}[/] (Ctrl+C stops it)", highlight=False)
        if open_browser:
            webbrowser.open(url)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            console.print("stopped")
