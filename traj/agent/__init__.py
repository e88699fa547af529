"""The agent runtime loop: observe, prompt, generate, parse, guard, execute, record."""

from traj.agent._action import AGENT_KINDS, AgentAction, AgentKind, ParsedAction, ParseError, parse_action
from traj.agent._confidence import choice_confidence, choice_span
from traj.agent._feedback import FeedbackError, FeedbackRecord, UnknownTargetError, record_feedback
from traj.agent._guards import Guarded, GuardState, apply_guards
from traj.agent._prompt import (
    DEFAULT_MAX_NEW_TOKENS,
    RULES,
    HistoryEntry,
    PageView,
    Prompt,
    approx_tokens,
    build_prompt,
    prompt_budget,
    render_demonstration,
)
from traj.agent._runtime import (
    AgentStep,
    AskWhenUnsure,
    RunResult,
    UnsureStep,
    history_entry,
    run_agent,
    run_on_page,
)

__all__ = [
    "AGENT_KINDS",
    "DEFAULT_MAX_NEW_TOKENS",
    "RULES",
    "AgentAction",
    "AgentKind",
    "AgentStep",
    "AskWhenUnsure",
    "FeedbackError",
    "FeedbackRecord",
    "GuardState",
    "Guarded",
    "HistoryEntry",
    "PageView",
    "ParseError",
    "ParsedAction",
    "Prompt",
    "RunResult",
    "UnknownTargetError",
    "UnsureStep",
    "apply_guards",
    "approx_tokens",
    "build_prompt",
    "choice_confidence",
    "choice_span",
    "history_entry",
    "parse_action",
    "prompt_budget",
    "record_feedback",
    "render_demonstration",
    "run_agent",
    "run_on_page",
]
