"""The text contract every layer shares: the page as text, the agent's prompt, the action language.

The agent prompts with it, the policies wrap it in their chat template, the training feed and
the exports render every training prompt with it, enrichment describes elements with it, and
the tiny model is pretrained on it: one text, so what a model learns is what it later reads.
Pure functions over payload types: no browser, model or DuckDB imports.

- :func:`build_prompt` (rules first, then the goal, the actions so far, the page; cut to a
  token budget), :func:`history_entry`, :func:`render_demonstration`;
- :func:`goal_values` numbers the values a goal states: a model writes them as ``$N``
  (:func:`refer_values`), the agent acts on their text (:func:`resolve_values`);
- :func:`parse_action` reads an :class:`AgentAction` out of a model's text; :func:`action_schema`
  is the JSON schema of the actions valid on a page (constrained decoding);
- :func:`render_snapshot` renders a page's elements; :func:`render_teacher_context` the SDFT
  teacher's privileged context, :func:`render_workflow_context` a workflow's model fallback's;
  :func:`chat_text` wraps a prompt in a model's chat template.
"""

from traj.errors import ParseError
from traj.prompt._action import (
    AGENT_KINDS,
    CLICK_BUTTONS,
    AgentAction,
    AgentKind,
    ParsedAction,
    action_from_mapping,
    action_json,
    action_value,
    normalize_key,
    parse_action,
    taught_action,
)
from traj.prompt._chat import chat_text, context_window_of, conversation_text, token_pieces
from traj.prompt._constraint import (
    MAX_FREE_TEXT,
    PRESS_KEYS,
    action_response_format,
    action_schema,
    action_token_bound,
    value_phrases,
)
from traj.prompt._page import render_snapshot
from traj.prompt._prompt import (
    DEFAULT_MAX_NEW_TOKENS,
    PERSON_NOTE,
    RULES,
    HistoryEntry,
    PageView,
    Prompt,
    approx_tokens,
    build_prompt,
    history_entry,
    prompt_budget,
    render_demonstration,
)
from traj.prompt._teacher import (
    TEACHER_CONTEXT_VERSION,
    TeacherStep,
    finish_step,
    render_teacher_context,
    render_workflow_context,
)
from traj.prompt._values import goal_values, refer_values, resolve_values

__all__ = [
    "AGENT_KINDS",
    "CLICK_BUTTONS",
    "DEFAULT_MAX_NEW_TOKENS",
    "MAX_FREE_TEXT",
    "PERSON_NOTE",
    "PRESS_KEYS",
    "RULES",
    "TEACHER_CONTEXT_VERSION",
    "AgentAction",
    "AgentKind",
    "HistoryEntry",
    "PageView",
    "ParseError",
    "ParsedAction",
    "Prompt",
    "TeacherStep",
    "action_from_mapping",
    "action_json",
    "action_response_format",
    "action_schema",
    "action_token_bound",
    "action_value",
    "approx_tokens",
    "build_prompt",
    "chat_text",
    "context_window_of",
    "conversation_text",
    "finish_step",
    "goal_values",
    "history_entry",
    "normalize_key",
    "parse_action",
    "prompt_budget",
    "refer_values",
    "render_demonstration",
    "render_snapshot",
    "render_teacher_context",
    "render_workflow_context",
    "resolve_values",
    "taught_action",
    "token_pieces",
    "value_phrases",
]
