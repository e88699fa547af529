"""What every command shares: the ``--home`` option, the console and error reporting."""

from __future__ import annotations

import functools
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console

from traj.errors import TrajError

if TYPE_CHECKING:
    from traj.browser import Secrets

__all__ = [
    "EXIT_FAILED",
    "EXIT_UNKNOWN",
    "EXTRAS",
    "HomeOption",
    "console",
    "err_console",
    "exit_for_outcome",
    "parse_assignments",
    "reports_errors",
    "resolve_home",
    "secret_source",
]

# soft_wrap: a long line (a path, a problem) stays one line in a pipe, so grep finds it.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Store directory (default: $TRAJ_HOME, else ./.traj).", show_default=False),
]

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON (one object, or one per line for a list).")
]

P = ParamSpec("P")
R = TypeVar("R")


def resolve_home(home: Path | None) -> Path:
    """The store directory a command works on."""
    from traj.eventlog import default_home

    return home if home is not None else default_home()


# The extra (pyproject.toml) that brings each library a command may import; the core has none of them.
EXTRAS = {
    "playwright": "browser",
    "torch": "train",
    "transformers": "train",
    "peft": "train",
    "safetensors": "train",
    "tokenizers": "train",
    "llguidance": "train",
    "mlx": "mlx",
    "mlx_lm": "mlx",
    "httpx": "serve",
    "openai": "serve",
    "PIL": "serve",
}


def require(*modules: str) -> None:
    """Refuse a command up front, before it writes anything, when a library of an extra is missing.

    :func:`reports_errors` turns the ``ModuleNotFoundError`` into one line naming the extra.
    """
    import importlib.util

    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a TrajError into one red line on stderr and exit status 1 (no traceback).

    A library of an extra that is not installed (``pip install traj`` is the light core) is
    the same one line, naming the extra to install.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except TrajError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except ModuleNotFoundError as exc:
            extra = EXTRAS.get((exc.name or "").partition(".")[0])
            if extra is None:
                raise
            from rich.markup import escape

            name = command.__name__.replace("_", "-")
            install = escape(f"pip install 'traj[{extra}]' (or 'traj[all]')")
            err_console.print(
                f"[bold red]error:[/] traj {name} needs {exc.name}, which is not installed: {install}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper


EXIT_FAILED = 1
EXIT_UNKNOWN = 3


def exit_for_outcome(success: bool | None) -> None:
    """End a task command with its outcome's status: 0 verified success, 1 failed, 3 unknown.

    Unknown (no success spec could say) is never success, and is not failure either: a
    script can tell the two apart.
    """
    if success is True:
        return
    raise typer.Exit(EXIT_UNKNOWN if success is None else EXIT_FAILED)


def parse_assignments(items: list[str] | None, option: str) -> dict[str, str]:
    """``["a=1", "b=2"]`` -> ``{"a": "1", "b": "2"}``; a malformed item is a usage error."""
    parsed: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{option} takes name=value, got {item!r}")
        parsed[name] = value
    return parsed


def secret_source() -> Secrets:
    """Secrets from ``TRAJ_SECRET_<NAME>``, else asked at the terminal (not echoed) when there is one."""
    from traj.browser import Secrets, secret_env_name

    def ask(name: str) -> str | None:
        if not sys.stdin.isatty():
            return None
        return getpass.getpass(f"secret {name} ({secret_env_name(name)} is not set): ")

    return Secrets(ask=ask)


def print_json(value: object) -> None:
    """Write ``value`` to stdout as one line of JSON (paths and times as text, structs as objects).

    A list prints one line per item (JSON lines), the form ``traj query --json`` prints, so
    ``jq`` and line-oriented tools read every command alike.
    """
    import sys

    import msgspec

    encoder = msgspec.json.Encoder(enc_hook=_as_text, decimal_format="number")
    items = value if isinstance(value, list) else [value]
    for item in items:
        sys.stdout.write(encoder.encode(item).decode() + "\n")
    sys.stdout.flush()


def _as_text(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    raise NotImplementedError(f"cannot print {type(value).__name__} as JSON")
