"""The agent runtime loop: observe, prompt, generate, parse, guard, execute, record."""

from traj.agent._action import AGENT_KINDS, AgentAction, AgentKind, ParsedAction, ParseError, parse_action
from traj.agent._prompt import (
    RULES,
    HistoryEntry,
    PageView,
    Prompt,
    approx_tokens,
    build_prompt,
    render_demonstration,
)

__all__ = [
    "AGENT_KINDS",
    "RULES",
    "AgentAction",
    "AgentKind",
    "HistoryEntry",
    "PageView",
    "ParseError",
    "ParsedAction",
    "Prompt",
    "approx_tokens",
    "build_prompt",
    "parse_action",
    "render_demonstration",
]
