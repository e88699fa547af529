"""The prompt: one text for every policy, and the same text the trainer teaches on.

Order matters because truncation cuts from the end: the output format and rules come first,
then (for the SDFT teacher only) the demonstration, the goal and its numbered values, the
actions so far, and last the page: URL, interactive elements, visible text. When the prompt is
over its token budget the page text shrinks first, then the element list (whole lines only),
then the oldest history entries (the count of dropped ones stays in the text).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from traj.prompt._action import AgentAction, action_value
from traj.prompt._page import render_snapshot
from traj.prompt._values import refer_values, render_goal_values

if TYPE_CHECKING:
    from traj.eventlog import Element, RunStep

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "PERSON_NOTE",
    "RULES",
    "HistoryEntry",
    "PageView",
    "Prompt",
    "approx_tokens",
    "build_prompt",
    "history_entry",
    "prompt_budget",
    "render_demonstration",
]

RULES = """You are a browser agent. Reply with exactly one JSON action and nothing else:
{"kind": KIND, "target": ELEMENT_ID or null, "value": TEXT or null}
KIND is one of CLICK, TYPE, SELECT, PRESS_ENTER, SCROLL, WAIT, NAVIGATE, FINISH.
CLICK, TYPE and SELECT need the target's id from Elements. TYPE and SELECT need a value.
A value listed in Values is written as its $N.
PRESS_ENTER submits the focused field. FINISH when the goal is done; put the answer in value."""

_MIN_PAGE_TEXT = 200


class PageView(Protocol):
    """What the prompt shows of a page: a live snapshot or a recorded observation."""

    @property
    def url(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def elements(self) -> Sequence[Element]: ...


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier step as the model sees it: the action's JSON and what came of it."""

    action: str
    note: str = ""
    """Empty when the step went fine; otherwise the error fed back (``error: unknown element 99``)."""

    def render(self, number: int) -> str:
        return f"Step {number}: {self.action}" + (f" -> {self.note}" if self.note else "")


PERSON_NOTE = "done by a person"
"""The note on a step a person did for the agent (``traj run --ask-when-unsure``)."""


def history_entry(step: RunStep) -> HistoryEntry:
    """How a recorded step reads in the history of later prompts (the runtime's and the exports').

    What happened on the page: the person's action on a step they did, else the executed
    action, else the proposed one, else the raw text; with the error fed back to the model.
    """
    if step.demonstrated is not None:
        return HistoryEntry(_from_dict(step.demonstrated).to_json(), PERSON_NOTE)
    shown = step.action or step.proposed
    text = _from_dict(shown).to_json() if shown else " ".join(step.raw_output.split())[:120] or "(no output)"
    return HistoryEntry(text, f"error: {step.error}" if step.error else "")


def _from_dict(action: dict[str, Any]) -> AgentAction:
    return AgentAction(action["kind"], action.get("target"), action_value(action.get("value")))


@dataclass(frozen=True)
class Prompt:
    """The text a policy completes, its token count, and the screenshot for vision models."""

    text: str
    tokens: int
    screenshot: bytes | None = field(default=None, repr=False)
    truncated: bool = False
    response_format: dict[str, Any] | None = field(default=None, repr=False)
    """The answer's allowed shape as OpenAI's ``response_format`` (:func:`action_response_format`), for a
    policy whose ``constrains_output`` is true; the agent attaches it (``constrain``), the others never get one."""

    @property
    def sha256(self) -> str:
        """Identifies the prompt in run events without storing it twice."""
        return hashlib.sha256(self.text.encode()).hexdigest()


DEFAULT_MAX_NEW_TOKENS = 64
"""Tokens the agent lets the model generate per step (an action is well under that)."""


def prompt_budget(context_window: int, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> int:
    """Tokens a prompt may take in a model with ``context_window``: what the answer leaves.

    The agent budgets its prompts with this, and so does the training feed for the same model,
    so a training prompt is the prompt the agent will see on the same page."""
    return max(256, context_window - max_new_tokens)


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate (4 characters a token) for backends without a local tokenizer."""
    return (len(text) + 3) // 4


def render_demonstration(
    goal: str, actions: Sequence[str], notes: Sequence[Sequence[str]] = (), *, values_of: str | None = None
) -> str:
    """The teacher's privileged context: the demonstrated goal and actions, each with its notes
    (an enrichment's explanation) indented under it.

    Actions read ``Step N: {json}``, as the history does and as the prompt's last line
    (``Step N:``) does: a model finds the demonstrated next action by matching that line, the
    plain copying that even a tiny model's induction heads learn. A value of the demonstrated
    goal is written as its reference (``$2``), which on an instance of the same task names the
    instance's own value; ``values_of`` is the goal to refer to instead, when the actions already
    carry another goal's values (a workflow's bound variables).
    """
    lines = [f"Demonstration of: {goal}"]
    for index, action in enumerate(actions):
        lines.append(f"Step {index + 1}: {refer_values(action, goal if values_of is None else values_of)}")
        if index < len(notes):
            lines += [f"   {note}" for note in notes[index]]
    return "\n".join(lines)


def build_prompt(
    goal: str,
    page: PageView,
    history: Sequence[HistoryEntry] = (),
    *,
    demonstration: str | None = None,
    budget_tokens: int = 1536,
    count_tokens: Callable[[str], int] = approx_tokens,
    screenshot: bytes | None = None,
) -> Prompt:
    """Render the prompt for deciding the next action on ``page``, within ``budget_tokens``.

    ``demonstration`` (see :func:`render_demonstration`) is what only the SDFT teacher sees;
    the student and the agent get the same prompt without it.
    """
    head = RULES if demonstration is None else f"{RULES}\n{demonstration}"
    history = [_referring(entry, goal) for entry in history]  # once, not per cut of the budget loop
    page_text = page.text.strip()
    elements = [e for e in page.elements if e.visible]
    rendered = render_snapshot(elements, max_chars=1 << 30)
    max_element_chars = len(rendered)
    dropped = 0
    text = _render(head, goal, page.url, history, dropped, rendered, page_text)
    tokens = count_tokens(text)
    truncated = False
    while tokens > budget_tokens:
        truncated = True
        over = tokens - budget_tokens
        if len(page_text) > _MIN_PAGE_TEXT:  # shrink the page text by what is over, in characters
            keep = max(_MIN_PAGE_TEXT, len(page_text) - max(over * 4, len(page_text) // 4))
            page_text = page_text[:keep].rsplit("\n", 1)[0] if "\n" in page_text[:keep] else page_text[:keep]
        elif page_text:
            page_text = ""
        elif max_element_chars > 400:
            max_element_chars = max(400, max_element_chars - max(over * 4, max_element_chars // 4))
        elif dropped < len(history):
            dropped += 1
        else:
            break  # rules, demonstration, goal and the last URL always stay: the budget is too small
        rendered = render_snapshot(elements, max_chars=max_element_chars)
        text = _render(head, goal, page.url, history, dropped, rendered, page_text)
        tokens = count_tokens(text)
    return Prompt(text, tokens, screenshot, truncated)


def _render(
    head: str,
    goal: str,
    url: str,
    history: Sequence[HistoryEntry],
    dropped: int,
    elements: str,
    page_text: str,
) -> str:
    shown = [entry.render(number) for number, entry in enumerate(history, start=1)][dropped:]
    if dropped:
        shown.insert(0, f"({dropped} earlier actions not shown)")
    values = render_goal_values(goal)
    parts = [
        head,
        f"Goal: {goal}" + (f"\n{values}" if values else ""),
        "Actions so far:\n" + ("\n".join(shown) if shown else "(none)"),
        f"URL: {url}",
        "Elements:\n" + (elements or "(none)"),
    ]
    if page_text:
        parts.append(f"Page text:\n{page_text}")
    parts.append(f"Next action:\nStep {len(history) + 1}:")
    return "\n".join(parts)


def _referring(entry: HistoryEntry, goal: str) -> HistoryEntry:
    """``entry`` as the model wrote it: a value of ``goal`` as its reference."""
    action = refer_values(entry.action, goal)
    return entry if action == entry.action else dataclasses.replace(entry, action=action)
