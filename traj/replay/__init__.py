"""Re-execution of recorded demonstrations: goal binding, the locator ladder, outcome checks,
healing, the bounded model fallback, success specs, evaluation."""

from traj.browser import SuccessVerdict, check_success, judge_success
from traj.errors import TargetNotFoundError, VariableError
from traj.replay._binding import bind_goal, variables_prompt
from traj.replay._engine import ReplayResult, StepResult, replay, replay_demo
from traj.replay._eval import EvalReport, evaluate, latest_demo
from traj.replay._fallback import (
    MODEL_KINDS,
    ModelDecision,
    fallback_prompt,
    instance_demonstration,
    instance_demonstrations,
)
from traj.replay._instances import Instance, read_instances
from traj.replay._ladder import LADDER, Target, find_target, same_name
from traj.replay._success import set_success_spec, task_success_spec
from traj.replay._variables import edit_variables
from traj.replay._wait import WaitCondition, wait_condition

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
    "VariableError",
    "WaitCondition",
    "bind_goal",
    "check_success",
    "edit_variables",
    "evaluate",
    "fallback_prompt",
    "find_target",
    "instance_demonstration",
    "instance_demonstrations",
    "judge_success",
    "latest_demo",
    "read_instances",
    "replay",
    "replay_demo",
    "same_name",
    "set_success_spec",
    "task_success_spec",
    "variables_prompt",
    "wait_condition",
]
