"""The valid actions on one page, as the JSON schema a constrained decoder enforces.

Under the constraint a policy can only write an action the agent can execute on the page it
sees: a kind of the action language, an element id that is on the page (for the kinds that
need one), and a value the goal or the page states. Per kind:

- ``CLICK``: any visible element, the value null or one of :data:`CLICK_BUTTONS` (a
  right-click, the second click of a double-click). ``DRAG``: any visible element onto another.
- ``TYPE``: only fields that take text (textbox, searchbox, spinbutton, textarea, an editable
  element). The value is one of the goal's or the page's phrases (:func:`value_phrases`), a
  value of the goal written as its reference (``$2``: :func:`traj.prompt.goal_values`);
  free text only where the field takes prose (a textarea or an editable element), or on a
  page where neither the goal nor the page states any phrase.
- ``SELECT``: only selects and listboxes. A snapshot does not list a select's options, so the
  value is one of the phrases too (``category Software`` in the goal gives ``Software``).
- ``PRESS_ENTER``: no target, or a field. ``PRESS``: a key of :data:`PRESS_KEYS`.
- ``NAVIGATE``: a link's ``href`` on the page or a URL in the goal (absent when there is none).
- ``SCROLL``, ``WAIT``: no target, no value. ``FINISH``: no target, free text (the answer) or null.

The schema is one ``anyOf`` branch per kind, each an object with ``kind``, ``target`` and
``value`` in that order: the order :meth:`AgentAction.to_json` writes and the training feed
teaches, so a constrained model writes what it learned to write.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from traj.prompt._action import CLICK_BUTTONS
from traj.prompt._values import CAPITALISED, EMAIL, QUOTED, WITH_DIGIT, goal_values, value_reference

if TYPE_CHECKING:
    from traj.eventlog import Element

__all__ = [
    "MAX_FREE_TEXT",
    "PRESS_KEYS",
    "action_response_format",
    "action_schema",
    "action_token_bound",
    "value_phrases",
]

MAX_FREE_TEXT = 80
"""Characters of free text (a FINISH answer, a textarea's prose) the constraint allows."""
_FREE_TEXT = {"type": "string", "pattern": rf'^[^"\\\x00-\x1f]{{1,{MAX_FREE_TEXT}}}$'}
"""One line of 1 to MAX_FREE_TEXT characters without JSON escapes, so its bytes are bounded (UTF-8: 4 a character)."""
PRESS_KEYS = (
    "Tab",
    "Shift+Tab",
    "Escape",
    "Backspace",
    "Delete",
    "Space",
    "ArrowDown",
    "ArrowUp",
    "ArrowLeft",
    "ArrowRight",
    "Home",
    "End",
    "PageDown",
    "PageUp",
)
"""The keys a constrained PRESS may name (``Enter`` is PRESS_ENTER)."""
_TEXT_ROLES = frozenset({"textbox", "searchbox", "spinbutton"})
_PROSE_TAGS = frozenset({"textarea"})
_SELECT_ROLES = frozenset({"listbox"})
_MAX_PHRASES = 400
_MAX_PHRASE = 80
_URL = re.compile(r"https?://[^\s\"'<>)]+")


def action_schema(goal: str, elements: Sequence[Element], page_text: str = "", *, url: str = "") -> dict[str, Any]:
    """The JSON schema of every action valid on the page (its visible ``elements``) for ``goal``.

    A NAVIGATE goes to a URL of the goal or to a link's target, resolved against the page's ``url``
    as the browser resolves it: the recorder writes down where a navigation went, absolute.
    """
    visible = [element for element in elements if element.visible]
    ids = [element.agent_id for element in visible]
    fields = [element.agent_id for element in visible if _takes_text(element)]
    prose = [element.agent_id for element in visible if _takes_prose(element)]
    selects = [element.agent_id for element in visible if _is_select(element)]
    phrases = _values_offered(goal, page_text)
    free = _FREE_TEXT
    chosen: dict[str, Any] = {"enum": phrases} if phrases else free
    branches = []
    if ids:
        branches.append(_branch("CLICK", {"enum": ids}, {"anyOf": [{"type": "null"}, {"enum": list(CLICK_BUTTONS)}]}))
    typed = [field for field in fields if field not in prose] if phrases else fields
    if typed:
        branches.append(_branch("TYPE", {"enum": typed}, chosen))
    if phrases and prose:
        branches.append(_branch("TYPE", {"enum": prose}, {"anyOf": [chosen, free]}))
    if selects:
        branches.append(_branch("SELECT", {"enum": selects}, chosen))
    branches.append(_branch("PRESS_ENTER", _nullable(fields), {"type": "null"}))
    branches.append(_branch("SCROLL", {"type": "null"}, {"type": "null"}))
    branches.append(_branch("WAIT", {"type": "null"}, {"type": "null"}))
    urls = _urls(goal, visible, url)
    if urls:
        branches.append(_branch("NAVIGATE", {"type": "null"}, {"enum": urls}))
    branches.append(_branch("FINISH", {"type": "null"}, {"anyOf": [{"type": "null"}, free]}))
    branches.append(_branch("PRESS", _nullable(ids), {"enum": list(PRESS_KEYS)}))
    if len(ids) > 1:
        branches.append(_branch("DRAG", {"enum": ids}, {"enum": ids}))
    return {"anyOf": branches}


def action_response_format(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` as OpenAI's ``response_format`` (what every constraining backend takes)."""
    return {"type": "json_schema", "json_schema": {"name": "action", "schema": schema, "strict": True}}


def action_token_bound(schema: dict[str, Any]) -> int:
    """The most tokens an action valid under ``schema`` (from :func:`action_schema`) can take.

    A constrained model must be given that many new tokens, or an answer cut short is no action
    at all. Every token writes at least one byte, so the bound is the longest valid text in
    bytes: compact JSON, enum values as ``json.dumps`` writes them (ASCII escapes, never fewer
    bytes than raw UTF-8), free text at 4 bytes a character.
    """
    return _longest(schema)


def _longest(node: dict[str, Any]) -> int:
    if "anyOf" in node:
        return max(_longest(option) for option in node["anyOf"])
    if "const" in node:
        return len(json.dumps(node["const"]))
    if "enum" in node:
        return max(len(json.dumps(item)) for item in node["enum"])
    if node.get("type") == "null":
        return len("null")
    if node.get("type") == "object":
        properties = node["properties"]
        return (
            2
            + len(properties)
            - 1
            + sum(len(json.dumps(key)) + 1 + _longest(value) for key, value in properties.items())
        )
    if node.get("type") == "string":
        return 2 + 4 * MAX_FREE_TEXT
    raise ValueError(f"no bound for the schema node {node!r}")


def value_phrases(goal: str, page_text: str = "") -> list[str]:
    """The values a TYPE or SELECT may take as text: the phrases the goal and the page state.

    Quoted spans, email addresses, anything with digits (amounts, dates, times, ids), runs of
    capitalised words (names, titles, categories) and their single words, goal first, each once,
    at most 80 characters and 400 phrases. The page's text counts because a task may read its
    values there (an email's meeting title); its short lines count whole.
    """
    found: dict[str, None] = {}
    for text in (goal, page_text):
        for match in QUOTED.finditer(text):
            _add(found, next(group for group in match.groups() if group))
        for match in EMAIL.finditer(text):
            _add(found, match[0])
        for match in WITH_DIGIT.finditer(text):
            _add(found, match[0].lstrip("$€£"))
        for match in CAPITALISED.finditer(text):
            run = match[0].rstrip(".,;:")
            _add(found, run)
            for word in run.split():
                _add(found, word.strip(".,;:"))
    for line in page_text.splitlines():
        _add(found, line.strip())
    return list(found)[:_MAX_PHRASES]


def _values_offered(goal: str, page_text: str) -> list[str]:
    """A TYPE's or SELECT's values as a model writes them: each of the goal's values as its reference
    (``$2``, :mod:`traj.prompt._values`), then the other phrases of the goal and the page as text."""
    stated = goal_values(goal)
    references = [value_reference(number) for number in range(1, len(stated) + 1)]
    return references + [phrase for phrase in value_phrases(goal, page_text) if phrase not in stated]


def _add(found: dict[str, None], phrase: str) -> None:
    phrase = " ".join(phrase.split())
    if phrase and len(phrase) <= _MAX_PHRASE:
        found[phrase] = None


def _branch(kind: str, target: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"kind": {"const": kind}, "target": target, "value": value},
        "required": ["kind", "target", "value"],
        "additionalProperties": False,
    }


def _nullable(ids: list[str]) -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, {"enum": ids}]} if ids else {"type": "null"}


def _takes_text(element: Element) -> bool:
    if element.attrs.get("disabled") == "true":
        return False
    if element.tag == "input":
        return element.attrs.get("type", "text") not in ("checkbox", "radio", "button", "submit", "reset", "file")
    return element.role in _TEXT_ROLES or _takes_prose(element)


def _takes_prose(element: Element) -> bool:
    return element.tag in _PROSE_TAGS or element.attrs.get("contenteditable") == "true"


def _is_select(element: Element) -> bool:
    return element.tag == "select" or element.role in _SELECT_ROLES


def _urls(goal: str, elements: Sequence[Element], base: str) -> list[str]:
    found = dict.fromkeys(match[0].rstrip(".,;") for match in _URL.finditer(goal))
    found.update(dict.fromkeys(urllib.parse.urljoin(base, e.attrs["href"]) for e in elements if e.attrs.get("href")))
    return list(found)
