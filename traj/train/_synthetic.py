"""Synthetic browser decisions to pretrain the tiny model on, in the agent's exact prompt format.

A *family* is one made-up site: a form whose fields, labels, buttons and conventions (click a
field before typing or not, which of the look-alike buttons submits, the order fields are
filled in) are drawn from the family's seed. An *instance* fills the family's goal template
with fresh values, like a bundled site's seed does. A decision is (goal, page, actions so
far) -> the next action as JSON.

The conventions are what a goal alone does not tell; a demonstration of the same family with
other values does. About half the samples carry such a demonstration (rendered as the SDFT
teacher sees it), so the model learns to use one in context: copy the demonstrated action at
the same step, with the values taken from its own goal.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec

from traj.agent import AgentAction, HistoryEntry, build_prompt, render_demonstration
from traj.eventlog import Element

__all__ = ["GENERATOR_VERSION", "Decision", "Family", "decisions", "family"]

GENERATOR_VERSION = 1

_SITES = [
    ("Expense report", "File an expense report"),
    ("Calendar", "Schedule an event"),
    ("Support desk", "Open a support ticket"),
    ("Travel booking", "Book a trip"),
    ("Shop checkout", "Place an order"),
    ("HR portal", "Request time off"),
    ("Library", "Reserve a book"),
    ("Clinic", "Book an appointment"),
]
_TEXT_LABELS = [
    "Employee",
    "Name",
    "Full name",
    "Amount",
    "Title",
    "Description",
    "Email",
    "City",
    "Date",
    "Reference",
    "Notes",
    "Quantity",
    "Phone",
    "Destination",
    "Subject",
    "Guests",
    "Budget",
]
_SELECT_LABELS = ["Category", "Priority", "Department", "Time", "Room", "Currency", "Class", "Status", "Size"]
_OPTIONS = {
    "Category": ["Travel", "Meals", "Software", "Hardware", "Office"],
    "Priority": ["Low", "Normal", "High", "Urgent"],
    "Department": ["Sales", "Finance", "Legal", "Research", "Support"],
    "Time": ["09:00", "10:30", "11:00", "14:00", "16:30"],
    "Room": ["Atlas", "Borealis", "Cedar", "Delta"],
    "Currency": ["USD", "EUR", "GBP", "CHF"],
    "Class": ["Economy", "Premium", "Business"],
    "Status": ["Open", "Pending", "Closed"],
    "Size": ["Small", "Medium", "Large"],
}
_SUBMITS = [
    ("Submit", "Save draft"),
    ("Save", "Save and new"),
    ("Book now", "Hold"),
    ("Send", "Preview"),
    ("Confirm", "Cancel"),
    ("Create", "Create template"),
    ("Place order", "Add to wishlist"),
]
_FIRST = ["Nora", "Ali", "Mia", "Jonas", "Priya", "Chen", "Sofia", "Omar", "Lena", "Kenji", "Ada", "Luis"]
_LAST = ["Haddad", "Khan", "Berg", "Novak", "Rossi", "Okafor", "Silva", "Tanaka", "Weber", "Dubois"]
_WORDS = [
    "quarterly",
    "roadmap",
    "sync",
    "cloud",
    "storage",
    "upgrade",
    "team",
    "lunch",
    "client",
    "visit",
    "review",
    "budget",
    "launch",
    "offsite",
    "training",
    "repair",
    "laptop",
    "printer",
    "invoice",
]
_CITIES = ["Vienna", "Madrid", "Oslo", "Lisbon", "Prague", "Berlin", "Dublin", "Athens", "Zurich", "Milan"]
_NAV = ["Home", "Dashboard", "Help", "Settings", "Reports", "History", "Sign out", "Inbox"]


@dataclass(frozen=True)
class Family:
    """One made-up site and its conventions."""

    site: str
    verb: str
    fields: list[tuple[str, str]]
    """(role, label) in form order: ``textbox`` or ``combobox``."""
    fill_order: list[int]
    """The order the demonstrations fill the fields in (indexes into ``fields``)."""
    click_first: bool
    """Demonstrations click a text field before typing into it."""
    submit: str
    decoy: str
    submit_first: bool
    """The submit button comes before its look-alike on the page."""
    nav: list[str]
    goal_order: list[int]
    """The order the goal sentence states the values in."""


def family(seed: int) -> Family:
    """The family ``seed`` names (the same seed always gives the same family)."""
    rng = random.Random(f"family-{seed}")
    site, verb = rng.choice(_SITES)
    n_text = rng.randint(1, 4)
    n_select = rng.randint(0, 2)
    labels = [("textbox", label) for label in rng.sample(_TEXT_LABELS, n_text)]
    labels += [("combobox", label) for label in rng.sample(_SELECT_LABELS, n_select)]
    rng.shuffle(labels)
    order = list(range(len(labels)))
    if rng.random() < 0.5:
        rng.shuffle(order)
    goal_order = list(range(len(labels)))
    rng.shuffle(goal_order)
    submit, decoy = rng.choice(_SUBMITS)
    if rng.random() < 0.5:
        submit, decoy = decoy, submit
    return Family(
        site=site,
        verb=verb,
        fields=labels,
        fill_order=order,
        click_first=rng.random() < 0.5,
        submit=submit,
        decoy=decoy,
        submit_first=rng.random() < 0.5,
        nav=rng.sample(_NAV, rng.randint(1, 4)),
        goal_order=goal_order,
    )


@dataclass(frozen=True)
class Instance:
    """A family with values: the page's elements, the goal and the demonstrated actions."""

    goal: str
    elements: list[Element]
    actions: list[AgentAction]
    url: str
    values: list[str]


def instance(fam: Family, rng: random.Random) -> Instance:
    values = [_value(role, label, rng) for role, label in fam.fields]
    stated = ", ".join(f"{fam.fields[i][1].lower()} {values[i]}" for i in fam.goal_order)
    goal = f"{fam.verb}: {stated}."
    elements: list[Element] = []

    def add(role: str, name: str, tag: str, **attrs: str) -> str:
        agent_id = str(len(elements) + 1)
        elements.append(Element(agent_id=agent_id, tag=tag, role=role, name=name, attrs=attrs))
        return agent_id

    for item in fam.nav:
        add("link", item, "a", href=f"/{item.lower().replace(' ', '-')}")
    field_ids = []
    for role, label in fam.fields:
        if role == "textbox":
            field_ids.append(add("textbox", label, "input", placeholder=label))
        else:
            field_ids.append(add("combobox", label, "select", selected="Select"))
    buttons = [fam.submit, fam.decoy] if fam.submit_first else [fam.decoy, fam.submit]
    button_ids = {name: add("button", name, "button") for name in buttons}
    actions: list[AgentAction] = []
    for index in fam.fill_order:
        role, _ = fam.fields[index]
        if role == "textbox":
            if fam.click_first:
                actions.append(AgentAction("CLICK", field_ids[index]))
            actions.append(AgentAction("TYPE", field_ids[index], values[index]))
        else:
            actions.append(AgentAction("SELECT", field_ids[index], values[index]))
    actions.append(AgentAction("CLICK", button_ids[fam.submit]))
    actions.append(AgentAction("FINISH"))
    url = f"http://127.0.0.1:8000/{fam.site.lower().replace(' ', '-')}/?seed={rng.randint(0, 999)}"
    return Instance(goal, elements, actions, url, values)


def _value(role: str, label: str, rng: random.Random) -> str:
    if role == "combobox":
        return rng.choice(_OPTIONS[label])
    if label in ("Employee", "Name", "Full name"):
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    if label in ("Amount", "Budget"):
        return f"{rng.randint(5, 999)}.{rng.randint(0, 99):02d}"
    if label == "Date":
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if label in ("Quantity", "Guests"):
        return str(rng.randint(1, 12))
    if label in ("City", "Destination"):
        return rng.choice(_CITIES)
    if label == "Email":
        return f"{rng.choice(_FIRST).lower()}@example.com"
    if label == "Phone":
        return f"+43 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    if label == "Reference":
        return f"REF-{rng.randint(1000, 9999)}"
    return " ".join(rng.sample(_WORDS, rng.randint(1, 3))).capitalize()


@dataclass(frozen=True)
class Decision:
    """One training or evaluation sample."""

    prompt: str
    target: str
    with_demo: bool
    family: int


def _page_view(inst: Instance, step: int) -> _Page:
    """The page after ``step`` actions: fields show what was typed or selected so far."""
    filled: dict[str, str] = {}
    for action in inst.actions[:step]:
        if action.kind in ("TYPE", "SELECT") and action.target:
            filled[action.target] = action.value or ""
    elements = [
        msgspec.structs.replace(e, attrs={**e.attrs, _state_attr(e): filled[e.agent_id]}) if e.agent_id in filled else e
        for e in inst.elements
    ]
    text = f"{inst.goal}\n{inst.elements[0].name}"
    return _Page(inst.url, text, elements)


def _state_attr(element: Element) -> str:
    return "value" if element.role == "textbox" else "selected"


@dataclass(frozen=True)
class _Page:
    url: str
    text: str
    elements: list[Element]


def decisions(seed: int, count: int, *, families: range, demo_share: float = 0.5) -> Iterator[Decision]:
    """``count`` decisions from ``families`` (train and evaluation use disjoint ranges)."""
    rng = random.Random(f"decisions-{seed}")
    for _ in range(count):
        family_id = rng.choice(families)
        fam = family(family_id)
        inst = instance(fam, rng)
        step = rng.randrange(len(inst.actions))
        history = [HistoryEntry(action.to_json()) for action in inst.actions[:step]]
        demonstration = None
        if rng.random() < demo_share:
            demo = instance(fam, rng)
            demonstration = render_demonstration(demo.goal, [a.to_json() for a in demo.actions])
        prompt = build_prompt(inst.goal, _page_view(inst, step), history, demonstration=demonstration)
        yield Decision(prompt.text, inst.actions[step].to_json(), demonstration is not None, family_id)
