"""The ``traj`` command line: parses arguments, calls the library, prints with rich.

Heavy imports (pyarrow, DuckDB, torch, Playwright) happen inside each command, so
``traj --help`` answers at once.
"""

from __future__ import annotations

import typer

from traj.cli._adapters import adapters_app
from traj.cli._demo import demo
from traj.cli._enrich import enrich
from traj.cli._export import export
from traj.cli._feedback import feedback
from traj.cli._model import model_app
from traj.cli._query import query
from traj.cli._record import demos, record
from traj.cli._replay import evaluate, replay
from traj.cli._run import run
from traj.cli._serve import serve
from traj.cli._sites import sites_app
from traj.cli._specialists import specialists_app
from traj.cli._store import compact, sample, stats, verify
from traj.cli._train import train
from traj.cli._view import view

__all__ = ["app"]

app = typer.Typer(
    name="traj",
    help="Teach a local browser agent a web task by doing it once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.command()(demo)
app.command()(record)
app.command()(demos)
app.command()(replay)
app.command()(run)
app.command()(train)
app.command()(enrich)
app.command(name="eval")(evaluate)
app.command()(query)
app.command()(feedback)
app.command()(export)
app.command()(stats)
app.command()(compact)
app.command()(verify)
app.command()(sample)
app.command()(view)
app.command()(serve)
app.add_typer(sites_app, name="sites")
app.add_typer(adapters_app, name="adapters")
app.add_typer(specialists_app, name="specialists")
app.add_typer(model_app, name="model")
