"""A page as the prompt shows it: one compact line per visible interactive element.

The agent's prompt, the exports and the enrichment request all render elements with
:func:`render_snapshot`, so a model is taught on exactly the text it later reads.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from traj.eventlog import Element

__all__ = ["render_snapshot"]

# Attributes worth a prompt's tokens, in the order they are shown.
_SHOWN_ATTRS = (
    "type",
    "value",
    "selected",
    "checked",
    "placeholder",
    "href",
    "disabled",
    "aria-expanded",
    "aria-checked",
    "aria-selected",
    "aria-pressed",
    "aria-current",
    "aria-invalid",
    "contenteditable",
)
# Input types the role already says.
_IMPLIED_TYPES = {
    "text": "textbox",
    "search": "searchbox",
    "number": "spinbutton",
    "range": "slider",
    "checkbox": "checkbox",
    "radio": "radio",
}
_MAX_NAME = 80
_MAX_VALUE = 60


def render_snapshot(elements: list[Element], *, max_chars: int = 6000) -> str:
    """Compact prompt text: one line per visible element, ``[id] role "name" key=value ...``.

    New elements start with ``*``, covered ones end with ``occluded``. Lines are never cut: when
    they do not all fit in ``max_chars``, the text ends with ``... (N more elements)``.
    """
    lines = [_render_element(element) for element in elements if element.visible]
    if sum(len(line) + 1 for line in lines) - 1 <= max_chars:
        return "\n".join(lines)
    reserve = len(_trailer(len(lines))) + 1
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 + reserve > max_chars:
            break
        kept.append(line)
        used += len(line) + 1
    kept.append(_trailer(len(lines) - len(kept)))
    return "\n".join(kept)


def _trailer(count: int) -> str:
    return f"... ({count} more element{'' if count == 1 else 's'})"


def _render_element(element: Element) -> str:
    parts = [f"{'*' if element.new else ''}[{element.agent_id}]", element.role or element.tag]
    label = element.name or element.text
    attrs = element.attrs
    if label:
        parts.append(_quote(label, _MAX_NAME))
    elif attrs.get("name"):
        parts.append(f"name={_quote(attrs['name'], _MAX_VALUE)}")
    for key in _SHOWN_ATTRS:
        value = attrs.get(key)
        if value is None or value == "":
            continue
        if key in ("placeholder", "value") and value == element.name:
            continue
        if key == "value" and value == "on" and element.role in ("checkbox", "radio"):
            continue
        if key == "type" and (element.tag != "input" or _IMPLIED_TYPES.get(value) == element.role):
            continue
        if key == "value" and element.tag == "select":
            continue  # `selected` says it in words
        if key == "checked" and value == "false" and element.role in ("radio", "checkbox"):
            parts.append("unchecked")
            continue
        if value == "true" and key in ("checked", "disabled", "contenteditable"):
            parts.append(key)
            continue
        parts.append(f"{key}={_quote(value, _MAX_VALUE) if _needs_quotes(value) else value}")
    if element.occluded:
        parts.append("occluded")
    return " ".join(parts)


def _needs_quotes(value: str) -> bool:
    return not value or len(value) > _MAX_VALUE or any(c.isspace() or c in "\"'=[]" for c in value)


def _quote(text: str, limit: int) -> str:
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return json.dumps(text, ensure_ascii=False)
