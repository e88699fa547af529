"""The ``traj`` command line: parses arguments, calls the library, prints with rich.

Heavy imports (pyarrow, DuckDB, torch, Playwright) happen inside each command, so
``traj --help`` answers at once. Every command refuses a bad argument with one ``error:``
line (:mod:`traj.cli._usage`), lists the environment variables it reads in its ``--help``
(:mod:`traj.cli._environment`), and hides third-party deprecation chatter (``FutureWarning``,
``DeprecationWarning``) unless Python's ``-W`` or ``PYTHONWARNINGS`` asks for warnings.
"""

from __future__ import annotations

import sys
import warnings
from typing import Annotated

import typer

from traj.cli._adapters import adapters_app
from traj.cli._demo import demo
from traj.cli._demos import demos_app
from traj.cli._enrich import enrich
from traj.cli._environment import environment_epilog
from traj.cli._export import export
from traj.cli._feedback import feedback
from traj.cli._model import model_app
from traj.cli._query import query
from traj.cli._record import record
from traj.cli._replay import evaluate, replay
from traj.cli._run import run
from traj.cli._serve import serve
from traj.cli._sites import sites_app
from traj.cli._specialists import specialists_app
from traj.cli._store import compact, sample, stats, verify
from traj.cli._train import train
from traj.cli._usage import OneLineErrors
from traj.cli._variables import variables
from traj.cli._view import view

__all__ = ["app"]

app = typer.Typer(
    name="traj",
    help="Teach a local browser agent a web task by doing it once.",
    cls=OneLineErrors,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    epilog=environment_epilog(),
)


def _show_version(value: bool) -> None:
    if value:
        from traj import __version__

        typer.echo(f"traj {__version__}")
        raise typer.Exit


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print traj's version and exit.")
    ] = False,
) -> None:
    """Teach a local browser agent a web task by doing it once."""
    if not sys.warnoptions:
        # torch, transformers and peft announce API changes to developers on every run; traj pins
        # what it uses (pyproject.toml), so they are noise in a command's output.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)


def _command(function: typer.models.CommandFunctionType, name: str | None = None) -> None:
    app.command(name=name, epilog=environment_epilog(name or function.__name__))(function)


for _function in (demo, record, replay, run, train, enrich):
    _command(_function)
demos_app.command(name="vars")(variables)
_command(evaluate, "eval")
for _function in (query, feedback, export, stats, compact, verify, sample, view, serve):
    _command(_function)
app.add_typer(demos_app, name="demos")
app.add_typer(sites_app, name="sites")
app.add_typer(adapters_app, name="adapters")
app.add_typer(specialists_app, name="specialists")
app.add_typer(model_app, name="model")
