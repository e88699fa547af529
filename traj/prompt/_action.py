"""The agent's action language and the parser that reads it out of a model's raw text.

A policy answers with one JSON object, ``{"kind": "CLICK", "target": "12", "value": null}``:
the same shape the training feed teaches (:func:`action_json`). Small models
drift from it, so the parser tries, in order:

1. JSON: the first balanced ``{...}`` in the text that decodes to an object with a known kind
   (``kind``, ``action`` or ``type``; ``target``/``element``/``id``; ``value``/``text``/``answer``).
2. A line-start-anchored command: ``CLICK [12]``, ``TYPE [3] "hello"``, ``FINISH: 42 USD``,
   ``NAVIGATE https://example.com``. Only at the start of a line, so prose that merely
   mentions "click" is not an action.
3. Done-language: "the task is complete", "I have finished", "done." -> ``FINISH``.

Anything else is a :class:`ParseError`, never another exception: the runtime feeds it back
to the model as an error in the history.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal, get_args

import msgspec

from traj.errors import ParseError

if TYPE_CHECKING:
    from traj.eventlog import Action

__all__ = [
    "AGENT_KINDS",
    "AgentAction",
    "AgentKind",
    "ParsedAction",
    "action_from_mapping",
    "action_json",
    "parse_action",
]

AgentKind = Literal["CLICK", "TYPE", "SELECT", "PRESS_ENTER", "SCROLL", "WAIT", "NAVIGATE", "FINISH"]
AGENT_KINDS: tuple[str, ...] = get_args(AgentKind)

_SYNONYMS = {
    "ENTER": "PRESS_ENTER",
    "PRESS": "PRESS_ENTER",
    "SUBMIT": "PRESS_ENTER",
    "FILL": "TYPE",
    "INPUT": "TYPE",
    "GOTO": "NAVIGATE",
    "GO_TO": "NAVIGATE",
    "OPEN": "NAVIGATE",
    "DONE": "FINISH",
    "STOP": "FINISH",
    "ANSWER": "FINISH",
    "CHOOSE": "SELECT",
}
_NEEDS_TARGET = frozenset({"CLICK", "TYPE", "SELECT"})
_AGENT_ID = re.compile(r"^(?:f\d+-)*\d+$")


class AgentAction(msgspec.Struct, frozen=True, omit_defaults=False):
    """One decision of the agent: the kind, the element's agent id, the value typed or answered."""

    kind: AgentKind
    target: str | None = None
    value: str | None = None

    def to_json(self) -> str:
        """The canonical JSON text, exactly what the training feed teaches the policy to emit."""
        return msgspec.json.encode(self).decode()


def action_json(action: Action) -> str:
    """A recorded ``action`` event's payload as the policy emits it: kind, target element id, value."""
    return AgentAction(action.kind, action.target, action.value).to_json()  # type: ignore[arg-type]


class ParsedAction(msgspec.Struct, frozen=True):
    """An action and how it was read: ``json``, ``regex`` or ``done_language``."""

    action: AgentAction
    method: Literal["json", "regex", "done_language"]


def parse_action(text: str) -> ParsedAction:
    """Read one action out of ``text``; raises :class:`ParseError` when there is none."""
    if not isinstance(text, str):
        raise ParseError(f"expected the model's text, got {type(text).__name__}")
    json_problem = None
    for candidate in _json_objects(text):
        try:
            return ParsedAction(action_from_mapping(candidate), "json")
        except ParseError as exc:
            json_problem = str(exc)
    for line in text.splitlines():
        action = _from_command_line(line)
        if action is not None:
            return ParsedAction(action, "regex")
    if _DONE.search(text):
        return ParsedAction(AgentAction("FINISH", None, _answer_from_prose(text)), "done_language")
    if json_problem:
        raise ParseError(json_problem)
    shown = " ".join(text.split())[:80]
    raise ParseError(f'no action in the output {shown!r}; answer with one JSON object like {{"kind": "CLICK", ...}}')


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Every balanced top-level ``{...}`` span of ``text`` that decodes to a JSON object."""
    found = []
    start = text.find("{")
    while start != -1 and len(found) < 8:
        end = _matching_brace(text, start)
        if end is None:
            break
        try:
            value = msgspec.json.decode(text[start : end + 1])
        except msgspec.DecodeError:
            value = None
        if isinstance(value, dict):
            found.append(value)
            start = text.find("{", end + 1)
        else:
            start = text.find("{", start + 1)
    return found


def _matching_brace(text: str, start: int) -> int | None:
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def action_from_mapping(mapping: dict[str, Any]) -> AgentAction:
    """The action a decoded JSON object states (synonym keys and kinds accepted, as the parser
    reads them); :class:`ParseError` when it states none or an invalid one."""
    raw_kind = _first(mapping, "kind", "action", "type")
    if not isinstance(raw_kind, str) or not raw_kind.strip():
        raise ParseError(f"the JSON action has no 'kind' (keys: {', '.join(map(str, mapping)) or 'none'})")
    kind = _kind(raw_kind)
    if kind is None:
        raise ParseError(f"unknown action kind {raw_kind[:40]!r}; use one of {', '.join(AGENT_KINDS)}")
    target = _target(_first(mapping, "target", "element", "element_id", "id"))
    value = _first(mapping, "value", "text", "answer", "url")
    if value is not None and not isinstance(value, str):
        value = msgspec.json.encode(value).decode() if isinstance(value, (dict, list)) else str(value)
    return _checked(AgentAction(kind, target, value))  # type: ignore[arg-type]


def _first(mapping: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in mapping:
            return mapping[key]
    return None


def _kind(raw: str) -> str | None:
    word = raw.strip().upper().replace(" ", "_").replace("-", "_")
    word = _SYNONYMS.get(word, word)
    return word if word in AGENT_KINDS else None


def _target(raw: Any) -> str | None:
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return str(int(raw))
    if not isinstance(raw, str):
        raise ParseError(f'the action\'s target must be an element id like "12", got {type(raw).__name__}')
    text = raw.strip().strip("[]# ").strip()
    return text or None


def _checked(action: AgentAction) -> AgentAction:
    if action.kind in _NEEDS_TARGET and action.target is None:
        raise ParseError(f"{action.kind} needs a target element id")
    if action.target is not None and action.kind in _NEEDS_TARGET and not _AGENT_ID.match(action.target):
        raise ParseError(f'{action.kind} target {action.target[:40]!r} is not an element id like "12"')
    if action.kind == "NAVIGATE" and not (action.value or "").strip():
        raise ParseError("NAVIGATE needs a URL in 'value'")
    return action


_COMMAND = re.compile(
    r"""^\s*(?:[-*>]\s*|\d+[.)]\s*|action\s*:\s*)?          # a list bullet or "Action:" prefix
    (?P<kind>click|type|select|press_enter|press\s+enter|enter|scroll|wait|navigate|goto|go\s+to|finish|done)\b
    \s*:?\s*(?:\[(?P<bracket>[^\]\s]{1,20})\]|(?:on\s+|element\s+|\#)(?P<bare>(?:f\d+-)*\d+)\b)?
    \s*(?P<rest>.*)$""",
    re.IGNORECASE | re.VERBOSE,
)
_DONE = re.compile(
    r"\b(?:task\s+(?:is\s+)?(?:complete|completed|done|finished)|i\s+(?:have|'ve)\s+(?:finished|completed|done)"
    r"|(?:^|\n)\s*done[.!]?\s*(?:$|\n)|nothing\s+(?:more|left)\s+to\s+do|goal\s+(?:is\s+)?(?:achieved|reached))",
    re.IGNORECASE,
)


def _from_command_line(line: str) -> AgentAction | None:
    match = _COMMAND.match(line)
    if match is None:
        return None
    kind = _kind(re.sub(r"\s+", "_", match["kind"]))
    if kind is None:
        return None
    target = match["bracket"] or match["bare"]
    rest = match["rest"].strip()
    value = _unquoted(rest.lstrip(":=").strip()) if rest else None
    if value is not None and not any(char.isalnum() for char in value):
        value = None  # "done." or "CLICK [3] -": punctuation is not a value
    if kind in ("PRESS_ENTER", "CLICK") and value is not None and target is not None:
        value = None  # "CLICK [3] the Save button": the words are commentary
    try:
        return _checked(AgentAction(kind, _target(target), value or None))  # type: ignore[arg-type]
    except ParseError:
        return None


def _unquoted(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        return text[1:-1]
    return text


def _answer_from_prose(text: str) -> str | None:
    match = re.search(r"answer\s*(?:is|:)\s*(.+)", text, re.IGNORECASE)
    return _unquoted(match[1].strip().rstrip(".")) if match else None
