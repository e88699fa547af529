"""Re-execution of recorded demonstrations: the locator ladder, outcome checks, healing, the
bounded model fallback, success specs, evaluation."""

from traj.browser import SuccessVerdict, check_success, judge_success
from traj.errors import TargetNotFoundError
from traj.replay._engine import ReplayResult, StepResult, replay, replay_demo
from traj.replay._eval import EvalReport, evaluate, latest_demo
from traj.replay._fallback import MODEL_KINDS, ModelDecision, fallback_prompt
from traj.replay._instances import Instance, read_instances
from traj.replay._ladder import LADDER, Target, find_target
from traj.replay._success import set_success_spec, task_success_spec

__all__ = [
    "LADDER",
    "MODEL_KINDS",
    "EvalReport",
    "Instance",
    "ModelDecision",
    "ReplayResult",
    "StepResult",
    "SuccessVerdict",
    "Target",
    "TargetNotFoundError",
    "check_success",
    "evaluate",
    "fallback_prompt",
    "find_target",
    "judge_success",
    "latest_demo",
    "read_instances",
    "replay",
    "replay_demo",
    "set_success_spec",
    "task_success_spec",
]
