"""How the command line refuses bad arguments: one ``error:`` line on stderr, exit status 2.

Click's default prints a usage block (and Typer's a framed panel) around the message; a
script's log then holds several lines per mistake. Every command of ``traj`` goes through
:class:`OneLineErrors`, so ``traj train --steps 0`` and a command's own ``BadParameter``
read the same way: ``error: Invalid value for '--steps': ... (see 'traj train --help')``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

__all__ = ["OneLineErrors"]


class OneLineErrors(TyperGroup):
    """The ``traj`` group: usage errors as one line, everything else as Typer does it."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # Typer's click: usage errors, bad parameters
            if type(exc).__name__ == "NoArgsIsHelpError":  # `traj adapters`: the help itself, not an error
                exc.show()  # type: ignore[attr-defined]
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            message = " ".join(exc.format_message().split())
            typer.echo(f"error: {message}{hint}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)
