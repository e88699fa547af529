"""The shared builder of synthetic episodes: pages, elements, values and page text.

Each family of made-up sites (one module each: ``_form``, ``_calendar``, ``_search``,
``_inbox``, ``_flights``) builds its episodes with a :class:`Builder`; :mod:`traj.tiny._synthetic`
keeps the registry of families and renders decisions from their episodes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from traj.eventlog import Element
from traj.prompt import AgentAction

__all__ = [
    "CITIES",
    "FIRST_NAMES",
    "LAST_NAMES",
    "OPTIONS",
    "WORDS",
    "Builder",
    "Elements",
    "Episode",
    "SyntheticPage",
    "filler_lines",
    "page_text",
    "slug",
    "value_of",
    "with_attrs",
]


@dataclass(frozen=True)
class SyntheticPage:
    """A page as the snapshotter shows it (satisfies :class:`traj.prompt.PageView`)."""

    url: str
    text: str
    elements: list[Element]


@dataclass(frozen=True)
class Episode:
    """One demonstrated task on a family's site: ``pages[i]`` is what action ``i`` was decided on."""

    family: int
    template: str
    goal: str
    pages: list[SyntheticPage]
    actions: list[AgentAction]
    notes: list[list[str]] = field(default_factory=list)
    """What an enrichment would say about each action (shown under some demonstrations)."""


class Builder:
    """Accumulates the pages and actions of one episode; ``structure`` draws are the family's."""

    def __init__(
        self, family_id: int, template: str, structure: random.Random, values: random.Random, long: bool, bare: bool
    ):
        self.family_id, self.template, self.structure, self.values = family_id, template, structure, values
        self.long, self.bare = long, bare
        self.goal = ""
        self.pages: list[SyntheticPage] = []
        self.actions: list[AgentAction] = []
        self.notes: list[list[str]] = []
        self.host = f"http://127.0.0.1:{structure.choice((8000, 8080, 5173, 3000))}"
        self.task_line = structure.random() < 0.5
        self.seed = values.randint(0, 999)

    def url(self, path: str) -> str:
        return f"{self.host}{path}?seed={self.seed}"

    def act(self, page: SyntheticPage, action: AgentAction, note: str) -> None:
        self.pages.append(page)
        self.actions.append(action)
        self.notes.append([f"Why: {note}"])

    def episode(self) -> Episode:
        return Episode(self.family_id, self.template, self.goal, self.pages, self.actions, self.notes)


class Elements:
    """Elements in document order, with the agent ids the snapshotter would give them."""

    def __init__(self) -> None:
        self.items: list[Element] = []

    def add(self, role: str, name: str, tag: str, *, new: bool = False, **attrs: str) -> str:
        agent_id = str(len(self.items) + 1)
        self.items.append(Element(agent_id=agent_id, tag=tag, role=role, name=name, attrs=attrs, new=new))
        return agent_id

    def links(self, names: list[str], path: str, seed: int, current: str | None = None) -> dict[str, str]:
        ids = {}
        for name in names:
            attrs = {"href": f"{path}{slug(name)}/?seed={seed}"}
            if name == current:
                attrs["aria-current"] = "page"
            ids[name] = self.add("link", name, "a", **attrs)
        return ids


def slug(text: str) -> str:
    """``text`` as a URL path segment (lower case, runs of other characters as dashes)."""
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def with_attrs(elements: list[Element], changes: dict[str, dict[str, str]]) -> list[Element]:
    """The elements with some attributes changed (typed values, selections) and none new."""
    out = []
    for element in elements:
        attrs = {**element.attrs, **changes.get(element.agent_id, {})}
        out.append(
            Element(agent_id=element.agent_id, tag=element.tag, role=element.role, name=element.name, attrs=attrs)
        )
    return out


OPTIONS = {
    "Category": ["Travel", "Meals", "Lodging", "Software", "Training", "Office supplies", "Client entertainment"],
    "Priority": ["Low", "Normal", "High", "Urgent"],
    "Department": ["Sales", "Finance", "Legal", "Research", "Support", "Marketing"],
    "Room": ["Atlas", "Borealis", "Cedar", "Delta", "Everest"],
    "Currency": ["USD", "EUR", "GBP", "CHF", "JPY"],
    "Class": ["Economy", "Premium economy", "Business"],
    "Size": ["Small", "Medium", "Large", "Extra large"],
    "Country": ["Austria", "Spain", "Norway", "Portugal", "Japan", "Canada", "Brazil"],
}


CITIES = ("Vienna", "Madrid", "Oslo", "Lisbon", "Prague", "Berlin", "Dublin", "Athens", "Zurich", "Milan")


FIRST_NAMES = ("Nora", "Ali", "Mia", "Jonas", "Priya", "Chen", "Sofia", "Omar", "Lena", "Kenji", "Ada", "Luis", "Maria")
LAST_NAMES = ("Haddad", "Khan", "Berg", "Novak", "Rossi", "Okafor", "Silva", "Tanaka", "Weber", "Dubois", "Chen")
WORDS = (
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
    "dinner",
    "planning",
    "workshop",
)


def value_of(kind: str, rng: random.Random) -> str:
    """A made-up value of ``kind`` (``person``, ``money``, ``date``, ...; a short phrase otherwise)."""
    if kind == "person":
        return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    if kind == "money":
        return f"{rng.randint(5, 999)}.{rng.randint(0, 99):02d}"
    if kind == "date":
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if kind == "count":
        return str(rng.randint(1, 12))
    if kind == "city":
        return rng.choice(CITIES)
    if kind == "email":
        return f"{rng.choice(FIRST_NAMES).lower()}.{rng.choice(LAST_NAMES).lower()}@example.com"
    if kind == "phone":
        return f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    if kind == "reference":
        return f"REF-{rng.randint(1000, 9999)}"
    return " ".join(rng.sample(WORDS, rng.randint(1, 4))).capitalize()


def filler_lines(rng: random.Random, count: int) -> list[str]:
    """``count`` pairs of plausible list lines (references, people, amounts) around the ones that matter."""
    lines = []
    for _ in range(count):
        who = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        lines.append(f"{value_of('reference', rng)} · {rng.choice(('Paid', 'Pending', 'Approved'))}")
        lines.append(f"{who} · {value_of('phrase', rng)} · ${value_of('money', rng)}")
    return lines


def page_text(b: Builder, app: str, lines: list[str]) -> str:
    """Visible page text; like the bundled sites, most pages show the task on top."""
    if b.bare:
        return ""
    return "\n".join([f"Task{b.goal}", *lines] if b.task_line else lines)
