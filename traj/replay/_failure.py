"""Why a replayed step failed: the error the engine and the model fallback share."""

from __future__ import annotations

__all__ = ["ConditionNotMetError", "StepFailedError"]


class StepFailedError(RuntimeError):
    """A step ran but its outcome differs from the demonstration's."""


class ConditionNotMetError(StepFailedError):
    """What the person waited for before a step never came: no model may take the step instead
    (acting before the condition is what the wait is there to prevent)."""
