"""Progress of a long loop: a live bar on a terminal, a plain line every few seconds otherwise.

Piped, or under ``nohup``, a rich bar draws nothing until the end; a log then shows minutes of
silence and one line. Off a terminal each step that comes ``every_s`` seconds after the last
printed one (and the first and the last step) prints one line instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from rich.console import Console

__all__ = ["StepProgress"]


class StepProgress:
    """``advance(**fields)`` once per step; ``describe(fields)`` renders a step's numbers."""

    def __init__(
        self,
        console: Console,
        title: str,
        total: int,
        describe: Callable[[dict[str, Any]], str],
        *,
        every_s: float = 10.0,
    ) -> None:
        self.console, self.title, self.total, self.describe, self.every_s = console, title, total, describe, every_s
        self.done = 0
        self._bar: Any = None
        self._started = self._printed = 0.0

    def __enter__(self) -> StepProgress:
        self._started = time.monotonic()
        if self.console.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn(self.title),
                BarColumn(),
                TextColumn("step {task.completed}/{task.total}"),
                TextColumn("{task.fields[line]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.title, total=self.total, line="")
        return self

    def advance(self, **fields: Any) -> None:
        self.done += 1
        line = self.describe(fields)
        if self._bar is not None:
            self._bar.update(self._task, advance=1, line=line)
            return
        now = time.monotonic()
        if self.done in (1, self.total) or now - self._printed >= self.every_s:
            self._printed = now
            elapsed = now - self._started
            self.console.print(
                f"{self.title}: step {self.done}/{self.total}  {line}  ({elapsed:.0f} s)", highlight=False, markup=False
            )

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, trace)
