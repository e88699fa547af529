"""Where a training step's time goes: wall seconds per phase (rollout, student, teacher, backward, ...).

On a GPU the host only queues work, so a phase ends with a synchronisation: its time is the
device's work for it, not the time to launch it. A step synchronises a few times anyway (the
sampler reads every token back), so these few extra waits cost nothing measurable.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["PhaseClock"]


class PhaseClock:
    """Accumulates seconds per phase name until :meth:`take` hands them over."""

    def __init__(self, device: torch.device) -> None:
        self._device = device if device.type == "cuda" else None
        self._seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            if self._device is not None:
                import torch

                torch.cuda.synchronize(self._device)
            self._seconds[phase] = self._seconds.get(phase, 0.0) + time.perf_counter() - started

    def take(self) -> dict[str, float]:
        """The seconds measured since the last call, per phase; the clock starts again at zero."""
        seconds, self._seconds = self._seconds, {}
        return seconds
