"""Re-execution of recorded demonstrations: goal binding, the locator ladder, outcome checks, healing, evaluation."""

from traj.errors import TargetNotFoundError, VariableError
from traj.replay._binding import bind_goal, variables_prompt
from traj.replay._engine import ReplayResult, StepResult, replay, replay_demo
from traj.replay._eval import EvalReport, evaluate, latest_demo
from traj.replay._ladder import LADDER, Target, find_target, same_name
from traj.replay._variables import edit_variables

__all__ = [
    "LADDER",
    "EvalReport",
    "ReplayResult",
    "StepResult",
    "Target",
    "TargetNotFoundError",
    "VariableError",
    "bind_goal",
    "edit_variables",
    "evaluate",
    "find_target",
    "latest_demo",
    "replay",
    "replay_demo",
    "same_name",
    "variables_prompt",
]
