"""Re-execution of recorded demonstrations and the SDFT training feed."""

from traj.replay._demo import Demo, DemoStep, load_demo
from traj.replay._engine import ReplayResult, StepResult, replay, replay_demo
from traj.replay._eval import EvalReport, evaluate, latest_demo
from traj.replay._feed import SdftItem, action_json, sdft_action_ids, sdft_items
from traj.replay._ladder import LADDER, Target, TargetNotFoundError, find_target

__all__ = [
    "LADDER",
    "Demo",
    "DemoStep",
    "EvalReport",
    "ReplayResult",
    "SdftItem",
    "StepResult",
    "Target",
    "TargetNotFoundError",
    "action_json",
    "evaluate",
    "find_target",
    "latest_demo",
    "load_demo",
    "replay",
    "replay_demo",
    "sdft_action_ids",
    "sdft_items",
]
