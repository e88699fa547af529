"""One run command: a task's workflow (its replay-verified demonstration, with the model
fallback) when there is one, else the agent alone; every step recorded with its source.

It sits above :mod:`traj.agent` and :mod:`traj.replay`, which stay independent of each other.
"""

from traj.workflow._run import TaskRun, TaskStep, run_task, workflow_demo

__all__ = ["TaskRun", "TaskStep", "run_task", "workflow_demo"]
