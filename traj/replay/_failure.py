"""Why a replayed step failed: the error the engine and the model fallback share."""

from __future__ import annotations

__all__ = ["StepFailedError"]


class StepFailedError(RuntimeError):
    """A step ran but its outcome differs from the demonstration's."""
