"""The agent runtime loop: observe, prompt, generate, parse, guard, execute, record.

The prompt and the action language it speaks are :mod:`traj.prompt`'s; this package runs
them against a live page and records the run (``run_agent``, ``run_on_page``), asks the
person when unsure, applies the guards, and records feedback on runs.
"""

from traj.agent._confidence import choice_confidence, choice_span
from traj.agent._feedback import FeedbackRecord, record_feedback
from traj.agent._guards import Guarded, GuardState, apply_guards
from traj.agent._runtime import AgentStep, AskWhenUnsure, RunResult, UnsureStep, run_agent, run_on_page
from traj.errors import FeedbackError, UnknownTargetError

__all__ = [
    "AgentStep",
    "AskWhenUnsure",
    "FeedbackError",
    "FeedbackRecord",
    "GuardState",
    "Guarded",
    "RunResult",
    "UnknownTargetError",
    "UnsureStep",
    "apply_guards",
    "choice_confidence",
    "choice_span",
    "record_feedback",
    "run_agent",
    "run_on_page",
]
