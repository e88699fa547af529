"""Re-execution of recorded demonstrations and the SDFT training feed."""

from traj.replay._demo import Demo, DemoStep, load_demo
from traj.replay._engine import ReplayResult, StepResult, replay, replay_demo
from traj.replay._ladder import LADDER, Target, TargetNotFoundError, find_target

__all__ = [
    "LADDER",
    "Demo",
    "DemoStep",
    "ReplayResult",
    "StepResult",
    "Target",
    "TargetNotFoundError",
    "find_target",
    "load_demo",
    "replay",
    "replay_demo",
]
