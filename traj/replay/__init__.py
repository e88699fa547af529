"""Re-execution of recorded demonstrations: the locator ladder, outcome checks, healing, the
bounded model fallback, evaluation."""

from traj.errors import TargetNotFoundError
from traj.replay._engine import ReplayResult, StepResult, replay, replay_demo
from traj.replay._eval import EvalReport, evaluate, latest_demo
from traj.replay._fallback import MODEL_KINDS, ModelDecision, fallback_prompt
from traj.replay._ladder import LADDER, Target, find_target

__all__ = [
    "LADDER",
    "MODEL_KINDS",
    "EvalReport",
    "ModelDecision",
    "ReplayResult",
    "StepResult",
    "Target",
    "TargetNotFoundError",
    "evaluate",
    "fallback_prompt",
    "find_target",
    "latest_demo",
    "replay",
    "replay_demo",
]
