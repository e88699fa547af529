"""The agent's action language and the parser that reads it out of a model's raw text.

A policy answers with one JSON object, ``{"kind": "CLICK", "target": "12", "value": null}``:
the same shape the training feed teaches (:func:`action_json`). Small models
drift from it, so the parser tries, in order:

1. JSON: the first balanced ``{...}`` in the text that decodes to an object with a known kind
   (``kind``, ``action`` or ``type``; ``target``/``element``/``id``; ``value``/``text``/``answer``).
2. A line-start-anchored command: ``CLICK [12]``, ``TYPE [3] "hello"``, ``FINISH: 42 USD``,
   ``NAVIGATE https://example.com``, ``PRESS [4] Shift+Tab``, ``DRAG [5] to [9]``. Only at
   the start of a line, so prose that merely mentions "click" is not an action.
3. Done-language: "the task is complete", "I have finished", "done." -> ``FINISH``.

Anything else is a :class:`ParseError`, never another exception: the runtime feeds it back
to the model as an error in the history.

Beyond the kinds the rules list, the language has ``PRESS`` (any key with modifiers, in
Playwright's spelling: ``{"kind": "PRESS", "target": "4", "value": "Shift+Tab"}``; plain
``Enter`` is ``PRESS_ENTER``) and ``DRAG`` (``target`` dragged onto the element ``value``); a
CLICK's value says which click it was when not a plain one (:data:`CLICK_BUTTONS`: ``right``
opens the page's own context menu, ``double`` is the second click of a double-click); and a
TYPE value may be a secret's reference, ``{"secret": "NAME"}``, typed from
``TRAJ_SECRET_<NAME>`` when executed. Demonstrations teach them; the rules text (part of the
tiny model's identity) does not list them yet.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal, get_args

import msgspec

from traj.errors import ParseError
from traj.eventlog import Secret

if TYPE_CHECKING:
    from traj.eventlog import Action

__all__ = [
    "AGENT_KINDS",
    "CLICK_BUTTONS",
    "AgentAction",
    "AgentKind",
    "ParsedAction",
    "action_from_mapping",
    "action_json",
    "action_value",
    "normalize_key",
    "parse_action",
    "taught_action",
]

AgentKind = Literal["CLICK", "TYPE", "SELECT", "PRESS_ENTER", "SCROLL", "WAIT", "NAVIGATE", "FINISH", "PRESS", "DRAG"]
AGENT_KINDS: tuple[str, ...] = get_args(AgentKind)
CLICK_BUTTONS = ("right", "double")
"""A CLICK's value when it is not a plain click: a right-click (the page's context menu), or the
second click of a double-click (the one that fires ``dblclick``: the first is a CLICK of its own)."""

_SYNONYMS = {
    "ENTER": "PRESS_ENTER",
    "SUBMIT": "PRESS_ENTER",
    "KEY": "PRESS",
    "KEYPRESS": "PRESS",
    "PRESS_KEY": "PRESS",
    "DRAG_AND_DROP": "DRAG",
    "DRAG_DROP": "DRAG",
    "DRAGANDDROP": "DRAG",
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
_NEEDS_TARGET = frozenset({"CLICK", "TYPE", "SELECT", "DRAG"})
_AGENT_ID = re.compile(r"^(?:f\d+-)*\d+$")
_MODIFIERS = {
    "control": "Control",
    "ctrl": "Control",
    "shift": "Shift",
    "alt": "Alt",
    "option": "Alt",
    "meta": "Meta",
    "cmd": "Meta",
    "command": "Meta",
    "controlormeta": "ControlOrMeta",
}
_NAMED_KEYS = {
    name.lower(): name
    for name in (
        "Enter Tab Escape Backspace Delete Insert Space Home End PageUp PageDown "
        "ArrowLeft ArrowRight ArrowUp ArrowDown ContextMenu " + " ".join(f"F{n}" for n in range(1, 13))
    ).split()
} | {"esc": "Escape", "del": "Delete", "left": "ArrowLeft", "right": "ArrowRight", "up": "ArrowUp", "down": "ArrowDown"}
_MODIFIER_ORDER = ("Control", "ControlOrMeta", "Alt", "Meta", "Shift")


class AgentAction(msgspec.Struct, frozen=True, omit_defaults=False):
    """One decision of the agent: the kind, the element's agent id, the value typed or answered."""

    kind: AgentKind
    target: str | None = None
    value: str | Secret | None = None

    def to_json(self) -> str:
        """The canonical JSON text, exactly what the training feed teaches the policy to emit."""
        return msgspec.json.encode(self).decode()


def taught_action(kind: str, target: str | None, value: str | Secret | None) -> AgentAction:
    """The decision a recorded action teaches the policy: its kind, target and value, but a WAIT
    without its seconds.

    The agent's WAIT takes no value (its action constraint allows none: the executor waits a
    second and the next observation shows whether the page is ready), while the recorder writes
    down how long the person paused, which differs on every instance. Taught as recorded, every
    demonstrated wait would be a target the agent cannot produce.
    """
    return AgentAction(kind, target, None if kind == "WAIT" else value)  # type: ignore[arg-type]


def action_json(action: Action) -> str:
    """A recorded ``action`` event's payload as the policy emits it (:func:`taught_action`)."""
    return taught_action(action.kind, action.target, action.value).to_json()


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
    target = _target(_first(mapping, "target", "element", "element_id", "id", "source"))
    value = action_value(_first(mapping, "value", "text", "answer", "url", "key", "to", "destination"))
    if value is not None and not isinstance(value, (str, Secret)):
        value = msgspec.json.encode(value).decode() if isinstance(value, (dict, list)) else str(value)
    return _checked(AgentAction(kind, target, value))  # type: ignore[arg-type]


def action_value(raw: Any) -> Any:
    """``raw`` with a secret's reference (``{"secret": "NAME"}``, as JSON decodes it) made a
    :class:`Secret`; anything else unchanged."""
    if isinstance(raw, dict) and set(raw) == {"secret"} and isinstance(raw["secret"], str) and raw["secret"].strip():
        return Secret(raw["secret"].strip())
    return raw


def normalize_key(text: str) -> str:
    """A key chord in Playwright's spelling (``ctrl+shift+left`` -> ``Control+Shift+ArrowLeft``);
    :class:`ParseError` when it names no key."""
    if text and not text.strip():
        return "Space"
    parts = [part.strip() for part in text.strip().split("+")]
    if text.strip().endswith("+"):  # "+" or "Control++": the plus key itself
        parts = [*parts[:-2], "+"]
    *modifiers, key = parts
    named = set()
    for modifier in modifiers:
        if modifier.lower() not in _MODIFIERS:
            raise ParseError(
                f"unknown modifier {modifier[:20]!r} in key {text[:40]!r}; use Control, Shift, Alt or Meta"
            )
        named.add(_MODIFIERS[modifier.lower()])
    if key.lower() in _MODIFIERS and not modifiers:
        return _MODIFIERS[key.lower()]
    if len(key) == 1:
        pass
    elif key.lower() in _NAMED_KEYS:
        key = _NAMED_KEYS[key.lower()]
    else:
        raise ParseError(f"unknown key {key[:30]!r}; use a character or a key name like Tab, Escape, ArrowDown")
    return "+".join([*(m for m in _MODIFIER_ORDER if m in named), key])


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
    if isinstance(action.value, Secret) and action.kind != "TYPE":
        raise ParseError(f"only TYPE takes a secret, not {action.kind}")
    if action.kind == "PRESS":
        key = normalize_key(action.value) if isinstance(action.value, str) and action.value else "Enter"
        action = (
            AgentAction("PRESS_ENTER", action.target) if key == "Enter" else AgentAction("PRESS", action.target, key)
        )
    if action.kind == "CLICK" and action.value is not None and action.value not in CLICK_BUTTONS:
        action = AgentAction("CLICK", action.target)  # words after a click are commentary, not a button
    if action.kind in _NEEDS_TARGET and action.target is None:
        raise ParseError(f"{action.kind} needs a target element id")
    if action.target is not None and action.kind in _NEEDS_TARGET and not _AGENT_ID.match(action.target):
        raise ParseError(f'{action.kind} target {action.target[:40]!r} is not an element id like "12"')
    if action.kind == "DRAG":
        to = _target(action.value) if isinstance(action.value, str) else None
        if to is None or not _AGENT_ID.match(to):
            raise ParseError("DRAG needs the drop target's element id in 'value', like \"9\"")
        action = AgentAction("DRAG", action.target, to)
    if action.kind == "NAVIGATE" and not (action.value if isinstance(action.value, str) else "").strip():
        raise ParseError("NAVIGATE needs a URL in 'value'")
    return action


_COMMAND = re.compile(
    r"""^\s*(?:[-*>]\s*|\d+[.)]\s*|action\s*:\s*)?          # a list bullet or "Action:" prefix
    (?P<kind>click|type|select|press_enter|press\s+enter|enter|press|key|drag|scroll|wait|navigate|goto|go\s+to|finish|done)\b
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
    if kind == "DRAG" and value is not None:  # "DRAG [3] to [9]", "DRAG [3] onto #9"
        dropped = re.match(r"^(?:to|onto|on|into|->|→)?\s*(?:\[|#)?\s*((?:f\d+-)*\d+)\b", value, re.IGNORECASE)
        value = dropped[1] if dropped else None
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
