"""Random pages and the check that an output is an action valid on its page: shared by the
constrained-decoding tests of every backend (transformers and MLX here, vLLM in test_vllm.py).

The check is written from what each element *is* (the generator knows), not from the schema
the code under test builds, so a schema that let a wrong element through would fail it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import msgspec

from traj.eventlog import Element
from traj.prompt import MAX_FREE_TEXT, PRESS_KEYS, goal_values, parse_action, resolve_values, value_phrases

_WORDS = ("Save", "Submit", "Cancel", "Search", "Next", "Back", "Open", "Report", "Amount", "Date", "Name", "Note")


@dataclass(frozen=True)
class Page:
    goal: str
    text: str
    elements: list[Element]
    url: str
    fields: frozenset[str]
    """Ids of the visible fields that take text; ``prose`` those that take free text."""
    prose: frozenset[str]
    selects: frozenset[str]
    hrefs: frozenset[str]


def random_page(rng: random.Random) -> Page:
    """A page of 2 to 14 elements of every sort (some hidden or disabled) and a goal naming values."""
    elements, fields, prose, selects, hrefs = [], set(), set(), set(), set()
    for number in range(1, rng.randint(2, 14) + 1):
        agent_id = str(number) if rng.random() < 0.8 else f"f{rng.randint(0, 2)}-{number}"
        sort = rng.choice(["button", "link", "text", "date", "textarea", "select", "checkbox", "hidden", "disabled"])
        name = " ".join(rng.sample(_WORDS, rng.randint(1, 2)))
        if sort == "button":
            element = Element(agent_id=agent_id, tag="button", role="button", name=name)
        elif sort == "link":
            href = f"/{name.split()[0].lower()}/{number}"
            hrefs.add(href)
            element = Element(agent_id=agent_id, tag="a", role="link", name=name, attrs={"href": href})
        elif sort in ("text", "date"):
            fields.add(agent_id)
            element = Element(agent_id=agent_id, tag="input", role="textbox", name=name, attrs={"type": sort})
        elif sort == "textarea":
            fields.add(agent_id)
            prose.add(agent_id)
            element = Element(agent_id=agent_id, tag="textarea", role="textbox", name=name)
        elif sort == "select":
            selects.add(agent_id)
            element = Element(agent_id=agent_id, tag="select", role="combobox", name=name, attrs={"selected": "-"})
        elif sort == "checkbox":
            element = Element(agent_id=agent_id, tag="input", role="checkbox", name=name, attrs={"type": "checkbox"})
        elif sort == "hidden":
            element = Element(agent_id=agent_id, tag="input", role="textbox", name=name, visible=False)
        else:
            element = Element(agent_id=agent_id, tag="input", role="textbox", name=name, attrs={"disabled": "true"})
        elements.append(element)
    amount = f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}"
    person = rng.choice(["Nora Haddad", "Jane Park", "Luis Ortega"])
    goal = rng.choice(
        [
            f'File a report for {person}: amount {amount}, category Software, note "Team lunch in Oslo".',
            f"Search for {person} and open the result dated 2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}.",
            "Read the page and say when you are done.",
        ]
    )
    text = rng.choice(["", f"Welcome back, {person}.\nTotal: {amount} USD\nStatus: Pending"])
    url = "http://127.0.0.1:8000/form"
    return Page(goal, text, elements, url, frozenset(fields), frozenset(prose), frozenset(selects), frozenset(hrefs))


def check_valid(output: str, page: Page) -> None:
    """``output`` is exactly one action valid on ``page`` (an AssertionError saying why otherwise)."""
    decoded = msgspec.json.decode(output)  # the whole output is one JSON object: no prose around it
    assert list(decoded) == ["kind", "target", "value"], output
    parsed = parse_action(output)
    assert parsed.method == "json", output
    assert parsed.action.value not in goal_values(page.goal), output  # a goal's value is written as its $N
    action = resolve_values(parsed.action, page.goal)
    kind, target, value = action.kind, action.target, action.value
    visible = {element.agent_id for element in page.elements if element.visible}
    phrases = set(value_phrases(page.goal, page.text))
    free_text_ok = isinstance(value, str) and 0 < len(value) <= MAX_FREE_TEXT and "\n" not in value
    if kind in ("CLICK", "DRAG"):
        assert target in visible, output
    if kind == "DRAG":
        assert value in visible, output
    if kind == "TYPE":
        assert target in page.fields, output
        assert value in phrases or (free_text_ok and (target in page.prose or not phrases)), output
    if kind == "SELECT":
        assert target in page.selects and (value in phrases or (free_text_ok and not phrases)), output
    if kind == "PRESS_ENTER":
        assert target is None or target in page.fields, output
    if kind == "PRESS":
        assert value in PRESS_KEYS and (target is None or target in visible), output
    if kind == "NAVIGATE":
        assert value in page.hrefs, output
    if kind in ("SCROLL", "WAIT"):
        assert target is None and value is None, output
    if kind == "FINISH":
        assert target is None and (value is None or free_text_ok), output
