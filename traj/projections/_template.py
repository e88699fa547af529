"""A goal as a template over its variables: where values occur in text, and the goal with them cut out.

Pure text, shared by the recorder (which derives a demo's variables from its goal) and the
replay (which binds a new goal by aligning it with the template). A value *occurs* in a text
when it stands there as whole words, whatever the case and spacing: "no" occurs in "Click
the 'no' button" but not in "Click nothing", and "$65" does not occur in "$665".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

__all__ = ["FREE", "goal_template", "occurrences", "occurs", "swap_values", "template_parts", "value_spans"]

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]+)\}")
_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'|“([^”]+)”")
_OPEN = "([{\"'“‘«"
_STOP = ".;:!?)]}\"'”’»"


def _pattern(value: str, *, same_case: bool) -> re.Pattern[str]:
    """``value`` as whole words, any run of whitespace between its words (any case unless ``same_case``)."""
    words = [re.escape(word) for word in value.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", 0 if same_case else re.IGNORECASE)


def occurrences(text: str, value: str, *, same_case: bool = False) -> Iterator[tuple[int, int]]:
    """The (start, end) spans where ``value`` occurs in ``text`` as whole words."""
    if not value.strip():
        return
    for match in _pattern(value, same_case=same_case).finditer(text):
        yield match.start(), match.end()


def occurs(text: str, value: str, *, same_case: bool = False) -> bool:
    """Whether ``value`` stands in ``text`` as whole words (spacing aside; case too unless ``same_case``)."""
    return next(occurrences(text, value, same_case=same_case), None) is not None


def value_spans(goal: str) -> list[str]:
    """The parts of ``goal`` that look like values rather than wording: quoted text, and runs of
    words that hold a digit or are capitalised mid-sentence ("Wednesday, July 9", "$139",
    "Ravi Patel"). A clicked element whose name contains one is located through it."""
    spans = [next(group for group in match.groups() if group) for match in _QUOTED.finditer(goal)]
    run: list[str] = []

    def close() -> None:
        text = " ".join(run).strip(_OPEN + _STOP + ",")
        if text:
            spans.append(text)
        run.clear()

    sentence_start = True
    for word in _QUOTED.sub(" ; ", goal).split():  # quoted text is one span already
        core = word.strip(_OPEN + _STOP + ",")
        valued = bool(core) and (any(c.isdigit() for c in core) or (core[0].isupper() and not sentence_start))
        if not valued or word[0] in _OPEN:
            close()
        if valued:
            run.append(word)
            if word[-1] in _STOP:
                close()
        sentence_start = word[-1] in ".!?:"
    close()
    return list(dict.fromkeys(spans))


FREE = "*"
"""The placeholder name of a value the goal states but no step uses (``{*}``): any text aligns with it."""


def goal_template(goal: str, values: Mapping[str, str], *, free: Sequence[str] = ()) -> str:
    """``goal`` with every occurrence of each variable's value replaced by ``{name}``.

    Longer values are cut first and occurrences never overlap, so "July 19" is not cut as
    "July 1". Literal braces of the goal are doubled; a value that does not occur in the
    goal is left out of the template (it can only be given, never bound from a goal).
    ``free`` values (what :func:`value_spans` finds that is no variable: the product a price
    watch names) are cut out after the variables as ``{*}``, so another instance's goal still
    aligns though no step uses them.
    """
    taken = _spans(goal, values)
    taken = _spans(goal, {FREE + str(i): value for i, value in enumerate(free)}, taken)
    parts, at = [], 0
    for start, end, key in taken:
        parts.append(_escaped(goal[at:start]) + "{" + (FREE if key.startswith(FREE) else key) + "}")
        at = end
    return "".join(parts) + _escaped(goal[at:])


def swap_values(text: str, swaps: Mapping[str, str]) -> str:
    """``text`` with each occurrence of every old value (key) replaced by its new value, all at
    once: the button "Wednesday, July 9, 09:00" becomes "Thursday, July 10, 14:00"."""
    parts, at = [], 0
    for start, end, old in _spans(text, {old: old for old in swaps}):
        parts.append(text[at:start] + swaps[old])
        at = end
    return "".join(parts) + text[at:]


def _spans(
    text: str, values: Mapping[str, str], taken: list[tuple[int, int, str]] | None = None
) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, key) occurrences of ``values``, the longest values first, in
    text order, besides those already ``taken``."""
    taken = list(taken or [])
    for key, value in sorted(values.items(), key=lambda item: -len(item[1])):
        for start, end in occurrences(text, value):
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, key))
    return sorted(taken)


def template_parts(template: str) -> list[tuple[str, str | None]]:
    """The template as (literal text, None) and ("", variable name) parts, in order."""
    parts: list[tuple[str, str | None]] = []
    literal, at = "", 0
    for match in _PLACEHOLDER.finditer(template):
        literal += template[at : match.start()]
        at = match.end()
        if match.group(1) is None:
            literal += match.group()[0]
            continue
        if literal:
            parts.append((literal, None))
        literal = ""
        parts.append(("", match.group(1)))
    literal += template[at:]
    if literal:
        parts.append((literal, None))
    return parts


def _escaped(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")
