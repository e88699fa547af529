"""Synthetic browser decisions to pretrain the tiny model on, in the agent's exact prompt format.

A *family* is one made-up site built like a bundled one: a form (expense report, ticket,
booking), a calendar week with a new-event dialog, a shop search, an inbox, a list of flights.
Its layout and its *conventions* come from the family's seed: the order the fields are filled
in, whether a field is clicked before typing, which of two look-alike buttons submits, whether
Enter submits, which menu link leads to the form, whether results are sorted first. An
*episode* fills the family with values (one per seed, like a bundled site's ``?seed=``): the
goal sentence that states them, the page before each action (typed values show in the
fields, a dialog appears, a confirmation follows) and the demonstrated actions, ending with
``FINISH`` (with the answer when the goal asks a question).

A :class:`Decision` is (goal, page at step i, the first i actions) -> action i, rendered with
:func:`traj.prompt.build_prompt` exactly as the agent prompts. The conventions are what a goal
alone does not tell; a demonstration does. So some decisions carry one, rendered with
:func:`traj.prompt.render_demonstration` as the SDFT teacher sees it: of the very episode (what
the teacher is given for the demo's own states) or of the same family with other values. The
model learns to find where the actions so far leave off in the demonstration and continue it,
with the values of its own goal, and to ground the elements a goal names (a message, a
flight, a time slot) on the page rather than copy them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from traj.eventlog import Element
from traj.prompt import AgentAction, HistoryEntry, build_prompt, render_demonstration

__all__ = ["GENERATOR_VERSION", "TEMPLATES", "Decision", "Episode", "SyntheticPage", "decisions", "episode"]

GENERATOR_VERSION = 5
"""Bumped whenever the samples change: the tiny model's cache key includes it."""

TEMPLATES = ("form", "calendar", "search", "inbox", "flights")
_TEMPLATE_WEIGHTS = (0.5, 0.14, 0.12, 0.12, 0.12)
_LONG_SHARE = 0.08
"""Families with long pages (big menus, week grids, long lists): prompts near the agent's budget."""
_BARE_SHARE = 0.3
"""Families with bare pages (no menu, no page text): short prompts, where the decision stands out."""
_NOTES_SHARE = 0.15
"""Demonstrations shown with enrichment notes under each action, as the SDFT feed renders them."""
_BUDGET_TOKENS = 1536
"""The agent's prompt budget, counted at 2.5 characters a token: a little under what the tiny tokenizer gives."""

DemoMode = Literal["none", "own", "other"]


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


@dataclass(frozen=True)
class Decision:
    """One sample: the agent's prompt at a step and the demonstrated action as JSON."""

    prompt: str
    target: str
    goal: str
    template: str
    family: int
    step: int
    demo: DemoMode
    """``none``: no demonstration; ``own``: this episode's; ``other``: the same family with other values."""


def decisions(
    seed: int,
    count: int,
    *,
    families: range,
    demo: DemoMode | None = None,
    demo_share: float = 0.6,
    own_share: float = 0.4,
) -> Iterator[Decision]:
    """``count`` decisions on episodes of ``families`` (training and evaluation use disjoint ranges).

    With ``demo=None``, ``demo_share`` of them carry a demonstration, ``own_share`` of those of
    the episode itself. A fixed ``demo`` gives the same episodes and steps for every mode, so
    accuracies with and without a demonstration compare the same decisions.
    """
    rng = random.Random(f"decisions-{seed}")
    made = 0
    while made < count:
        family_id = rng.choice(families)
        own, other = rng.randrange(1 << 30), rng.randrange(1 << 30)
        shown, from_own, with_notes = rng.random(), rng.random(), rng.random()
        current = episode(family_id, own)
        step = rng.randrange(len(current.actions))
        mode: DemoMode = demo or ("none" if shown >= demo_share else "own" if from_own < own_share else "other")
        demonstration = None
        if mode != "none":
            shown_episode = current if mode == "own" else episode(family_id, other)
            notes = shown_episode.notes if with_notes < _NOTES_SHARE else ()
            demonstration = render_demonstration(
                shown_episode.goal, [action.to_json() for action in shown_episode.actions], notes
            )
        target = current.actions[step]
        prompt = build_prompt(
            current.goal,
            current.pages[step],
            [HistoryEntry(action.to_json()) for action in current.actions[:step]],
            demonstration=demonstration,
            budget_tokens=_BUDGET_TOKENS,
            count_tokens=_count_tokens,
        ).text
        if target.target is not None and f"[{target.target}]" not in prompt:
            continue  # the budget cut the target off the page: no right answer to teach
        made += 1
        yield Decision(prompt, target.to_json(), current.goal, current.template, family_id, step, mode)


def episode(family_id: int, instance: int) -> Episode:
    """Episode ``instance`` of family ``family_id``: the same pair always gives the same episode."""
    structure = random.Random(f"family-{family_id}")
    template = structure.choices(TEMPLATES, _TEMPLATE_WEIGHTS)[0]
    size = structure.random()
    long, bare = size < _LONG_SHARE, size > 1 - _BARE_SHARE
    values = random.Random(f"episode-{family_id}-{instance}")
    builder = _Builder(family_id, template, structure, values, long, bare)
    _BUILDERS[template](builder)
    return builder.episode()


def _count_tokens(text: str) -> int:
    return (2 * len(text) + 4) // 5


# ----------------------------------------------------------------------------- building episodes


class _Builder:
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


class _Elements:
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
            attrs = {"href": f"{path}{_slug(name)}/?seed={seed}"}
            if name == current:
                attrs["aria-current"] = "page"
            ids[name] = self.add("link", name, "a", **attrs)
        return ids


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _with(elements: list[Element], changes: dict[str, dict[str, str]]) -> list[Element]:
    """The elements with some attributes changed (typed values, selections) and none new."""
    out = []
    for element in elements:
        attrs = {**element.attrs, **changes.get(element.agent_id, {})}
        out.append(
            Element(agent_id=element.agent_id, tag=element.tag, role=element.role, name=element.name, attrs=attrs)
        )
    return out


# ----------------------------------------------------------------------------- forms


@dataclass(frozen=True)
class _Field:
    label: str
    word: str
    """How a goal names it."""
    role: str
    kind: str
    placeholder: str = ""


_FIELDS = {
    f.label: f
    for f in (
        _Field("Employee name", "employee", "textbox", "person"),
        _Field("Full name", "name", "textbox", "person", "Jane Doe"),
        _Field("Guest name", "guest", "textbox", "person"),
        _Field("Amount (USD)", "amount", "textbox", "money", "0.00"),
        _Field("Budget", "budget", "textbox", "money", "0.00"),
        _Field("Date of expense", "date", "textbox", "date", "YYYY-MM-DD"),
        _Field("Date", "date", "textbox", "date", "YYYY-MM-DD"),
        _Field("Check-in", "check-in", "textbox", "date", "YYYY-MM-DD"),
        _Field("Description", "description", "textbox", "phrase"),
        _Field("Title", "title", "textbox", "phrase"),
        _Field("Subject", "subject", "textbox", "phrase"),
        _Field("Note", "note", "textbox", "phrase", "Add a note"),
        _Field("Email", "email", "textbox", "email", "name@example.com"),
        _Field("Phone", "phone", "textbox", "phone", "+1 555 0100"),
        _Field("City", "city", "textbox", "city"),
        _Field("Reference", "reference", "textbox", "reference"),
        _Field("Quantity", "quantity", "textbox", "count", "1"),
        _Field("Guests", "guests", "textbox", "count"),
        _Field("Category", "category", "combobox", "option"),
        _Field("Priority", "priority", "combobox", "option"),
        _Field("Department", "department", "combobox", "option"),
        _Field("Room", "room", "combobox", "option"),
        _Field("Start time", "start", "combobox", "time"),
        _Field("Currency", "currency", "combobox", "option"),
        _Field("Class", "class", "combobox", "option"),
        _Field("Size", "size", "combobox", "option"),
        _Field("Country", "country", "combobox", "option"),
    )
}
_OPTIONS = {
    "Category": ["Travel", "Meals", "Lodging", "Software", "Training", "Office supplies", "Client entertainment"],
    "Priority": ["Low", "Normal", "High", "Urgent"],
    "Department": ["Sales", "Finance", "Legal", "Research", "Support", "Marketing"],
    "Room": ["Atlas", "Borealis", "Cedar", "Delta", "Everest"],
    "Currency": ["USD", "EUR", "GBP", "CHF", "JPY"],
    "Class": ["Economy", "Premium economy", "Business"],
    "Size": ["Small", "Medium", "Large", "Extra large"],
    "Country": ["Austria", "Spain", "Norway", "Portugal", "Japan", "Canada", "Brazil"],
}


@dataclass(frozen=True)
class _FormSite:
    app: str
    path: str
    verb: str
    heading: str
    noun: str
    prefix: str
    fields: tuple[str, ...]
    menu: tuple[str, ...]
    """Menu links; the first three could each be the way to the form."""
    buttons: tuple[tuple[str, str], ...]
    """Look-alike (submit, other) button pairs."""


_FORM_SITES = (
    _FormSite(
        "Ledgerly",
        "/expense/",
        "Submit an expense report",
        "New expense report",
        "Expense report",
        "EXP",
        ("Employee name", "Date of expense", "Category", "Amount (USD)", "Description", "Currency", "Reference"),
        ("New report", "Expenses", "Reports", "Dashboard", "Approvals", "Trips"),
        (("Submit report", "Save draft"), ("Submit", "Submit and new"), ("Send for approval", "Save for later")),
    ),
    _FormSite(
        "Deskline",
        "/support/",
        "Open a support ticket",
        "New ticket",
        "Ticket",
        "TCK",
        ("Full name", "Email", "Subject", "Priority", "Department", "Description", "Phone"),
        ("New ticket", "Tickets", "Help center", "Dashboard", "Knowledge base", "Status"),
        (("Create ticket", "Create and close"), ("Send", "Send later"), ("Submit", "Preview")),
    ),
    _FormSite(
        "Staybook",
        "/hotel/",
        "Book a room",
        "Reserve a room",
        "Reservation",
        "RES",
        ("Guest name", "Check-in", "Guests", "Room", "Email", "Note", "Country"),
        ("Reserve", "Rooms", "Bookings", "Home", "Offers", "Contact"),
        (("Book now", "Hold room"), ("Confirm booking", "Check availability"), ("Reserve", "Reserve and pay later")),
    ),
    _FormSite(
        "Shopfront",
        "/shop/",
        "Place an order",
        "Checkout",
        "Order",
        "ORD",
        ("Full name", "Email", "City", "Quantity", "Size", "Phone", "Country", "Note"),
        ("Checkout", "Cart", "Orders", "Home", "Deals", "Account"),
        (("Place order", "Save cart"), ("Pay now", "Pay later"), ("Buy", "Add to wishlist")),
    ),
    _FormSite(
        "Planwise",
        "/meetings/",
        "Schedule a meeting",
        "New meeting",
        "Meeting",
        "MTG",
        ("Title", "Date", "Start time", "Room", "Guests", "Description", "Email"),
        ("New meeting", "Meetings", "Calendar", "Mail", "Rooms", "People"),
        (("Save", "Save and invite"), ("Schedule", "Schedule later"), ("Create", "Create draft")),
    ),
    _FormSite(
        "Travelo",
        "/trips/",
        "Request a business trip",
        "New trip request",
        "Trip request",
        "TRP",
        ("Employee name", "City", "Date", "Class", "Budget", "Department", "Note"),
        ("New request", "Trips", "Policies", "Dashboard", "Approvals", "Expenses"),
        (("Submit request", "Save draft"), ("Request", "Request and copy"), ("Send", "Preview")),
    ),
)


def _form(b: _Builder) -> None:
    s = b.structure
    site = s.choice(_FORM_SITES)
    fields = [_FIELDS[label] for label in s.sample(site.fields, s.randint(2, 5))]
    menu = list(s.sample(site.menu, s.randint(3, 6)))
    entry = s.choice([name for name in menu if name in site.menu[:3]] or menu[:1])
    via_menu = s.random() < 0.3 and not b.bare
    if b.bare:
        menu = []
    submit, other = s.choice(site.buttons)
    buttons = [submit, other] + (["Cancel"] if s.random() < 0.4 else [])
    s.shuffle(buttons)
    if s.random() < 0.5:
        submit, other = other, submit  # which look-alike submits is this site's convention
    order = list(range(len(fields)))
    if s.random() < 0.5:
        s.shuffle(order)
    click_first = s.random() < 0.5
    enter_submits = fields[order[-1]].role == "textbox" and s.random() < 0.3
    asks_reference = s.random() < 0.35
    quoted = s.random() < 0.75
    goal_order = list(range(len(fields)))
    s.shuffle(goal_order)
    search = s.random() < 0.3
    filler = _filler_lines(s, 30 if b.long else s.randint(0, 6))
    more_links = [f"{s.choice(_WORDS).capitalize()} {n}" for n in range(s.randint(20, 50))]

    v = b.values
    values = [_field_value(f, v) for f in fields]
    stated = _join([f"{fields[i].word} {_stated(values[i], fields[i].kind, quoted)}" for i in goal_order])
    b.goal = f"{site.verb}: {stated}." + (" Then tell me its reference number." if asks_reference else "")
    reference = f"{site.prefix}-{v.randint(1000, 9999)}"

    def header(page: _Elements, current: str | None) -> dict[str, str]:
        ids = page.links(menu, site.path, b.seed, current)
        if search:
            page.add("searchbox", "Search", "input", placeholder=f"Search {site.app}")
        if b.long:
            page.links(more_links, site.path, b.seed)
        return ids

    if via_menu:
        start = _Elements()
        ids = header(start, "Dashboard" if "Dashboard" in menu else None)
        text = _text(b, site.app, [f"Welcome back to {site.app}", *menu, *filler])
        b.act(
            SyntheticPage(b.url(site.path), text, start.items),
            AgentAction("CLICK", ids[entry]),
            f'The form is behind the "{entry}" link.',
        )
    form = _Elements()
    header(form, entry)
    field_ids = []
    for f in fields:
        if f.role == "combobox":
            field_ids.append(form.add("combobox", f.label, "select", selected=f"Choose {f.word}"))
        else:
            attrs = {"placeholder": f.placeholder} if f.placeholder else {}
            field_ids.append(form.add("textbox", f.label, "input", **attrs))
    button_ids = {name: form.add("button", name, "button") for name in buttons}
    options = [line for f in fields if f.role == "combobox" for line in _options(f)]
    text = _text(b, site.app, [*menu, site.heading, *[f.label for f in fields], *options, *buttons, *filler])
    url = b.url(f"{site.path}{_slug(entry)}/")
    filled: dict[str, dict[str, str]] = {}

    def page() -> SyntheticPage:
        return SyntheticPage(url, text, _with(form.items, filled))

    for index in order:
        f, target, value = fields[index], field_ids[index], values[index]
        if f.role == "combobox":
            b.act(page(), AgentAction("SELECT", target, value), f"Choose {value} as the {f.word}.")
            filled[target] = {"selected": value}
            continue
        if click_first:
            b.act(page(), AgentAction("CLICK", target), f"Focus the {f.label} field before typing.")
        b.act(page(), AgentAction("TYPE", target, value), f"Enter the {f.word} from the goal.")
        filled[target] = {"value": value}
    if enter_submits:
        b.act(page(), AgentAction("PRESS_ENTER", field_ids[order[-1]]), "Enter submits the form.")
    else:
        b.act(page(), AgentAction("CLICK", button_ids[submit]), f'"{submit}" sends the form; "{other}" does not.')
    done = _Elements()
    header(done, None)
    done.add("button", f"New {site.noun.lower()}", "button")
    done.add("link", f"View {reference}", "a", href=f"{site.path}{reference.lower()}/?seed={b.seed}")
    text = _text(b, site.app, [*menu, f"{site.noun} {reference} submitted", "Thank you.", *filler])
    answer = reference if asks_reference else None
    b.act(SyntheticPage(url, text, done.items), AgentAction("FINISH", None, answer), "The confirmation is shown.")


def _field_value(f: _Field, rng: random.Random) -> str:
    if f.kind == "option":
        return rng.choice(_OPTIONS[f.label])
    if f.kind == "time":
        return f"{rng.randint(8, 17):02d}:{rng.choice((0, 30)):02d}"
    return _value(f.kind, rng)


def _options(f: _Field) -> list[str]:
    if f.kind == "time":
        return [f"{h:02d}:{m:02d}" for h in range(8, 18) for m in (0, 30)][:6]
    return [f"Choose {f.word}", *_OPTIONS[f.label]]


def _stated(value: str, kind: str, quoted: bool) -> str:
    if kind in ("money", "date", "count", "time", "phone") or not quoted:
        return value
    return f'"{value}"'


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# ----------------------------------------------------------------------------- calendar


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_MONTHS = ("March", "April", "May", "June", "September", "October")


def _calendar(b: _Builder) -> None:
    s, v = b.structure, b.values
    month, first = s.choice(_MONTHS), s.randint(1, 20)
    days = [f"{_DAYS[i]}, {month} {first + i}" for i in range(s.randint(2, 5))]
    start_hour = s.choice((8, 9))
    slots = [f"{h:02d}:{m:02d}" for h in range(start_hour, 18) for m in (0, 30)][: 16 if b.long else s.randint(4, 8)]
    existing = {day: s.sample(slots, s.randint(0, 2)) for day in days}
    title_first = s.random() < 0.5
    click_first = s.random() < 0.5
    enter_saves = title_first is False and s.random() < 0.5
    save, cancel = s.choice((("Save", "Cancel"), ("Add event", "Discard"), ("Create", "Close")))
    app = s.choice(("Planwise", "Weekly", "Agenda"))

    day = v.choice(days)
    free = [slot for slot in slots[:-1] if slot not in existing[day]]
    start = v.choice(free or slots[:-1])
    end = v.choice(slots[slots.index(start) + 1 :])
    title = _value("phrase", v)
    b.goal = f'Block out {day} from {start} to {end} in the calendar with the title "{title}".'

    grid = _Elements()
    grid.links(["Mail", "Calendar"], "/", b.seed, "Calendar")
    for name in ("Today", "Previous week", "Next week", "+ Create"):
        grid.add("button", name, "button")
    slot_ids = {}
    for d in days:
        for slot in slots:
            slot_ids[(d, slot)] = grid.add("button", f"{d}, {slot}", "button")
        for slot in existing[d]:
            grid.add("button", f"{s.choice(_MEETINGS)}, {slot} to {_later(slot)}", "button")
    url = b.url("/calendar/")
    text = _text(b, app, [app, "Mail", "Calendar", "Today", f"{days[0]} to {days[-1]}", *slots])
    b.act(
        SyntheticPage(url, text, grid.items),
        AgentAction("CLICK", slot_ids[(day, start)]),
        f"The {start} cell of {day} opens a new event there.",
    )
    dialog = _Elements()
    dialog.items = list(grid.items)
    parts = [("title", "Title"), ("ends", "Ends")]
    if not title_first:
        parts.reverse()
    ids = {}
    for key, label in parts:
        if key == "title":
            ids[key] = dialog.add("textbox", label, "input", new=True, placeholder="Add title")
        else:
            ids[key] = dialog.add("combobox", label, "select", new=True, selected=_later(start))
    ids["save"] = dialog.add("button", save, "button", new=True)
    dialog.add("button", cancel, "button", new=True)
    text = _text(b, app, [app, "New event", f"{day}, {start}", "Title", "Ends", save, cancel])
    changes: dict[str, dict[str, str]] = {}
    first_view = True

    def page() -> SyntheticPage:
        nonlocal first_view
        elements = dialog.items if first_view else _with(dialog.items, changes)
        first_view = False
        return SyntheticPage(url, text, elements)

    for key, _ in parts:
        if key == "ends":
            b.act(page(), AgentAction("SELECT", ids["ends"], end), f"The event ends at {end}.")
            changes[ids["ends"]] = {"selected": end}
        else:
            if click_first:
                b.act(page(), AgentAction("CLICK", ids["title"]), "Focus the title field.")
            b.act(page(), AgentAction("TYPE", ids["title"], title), "Type the title from the goal.")
            changes[ids["title"]] = {"value": title}
    if enter_saves:
        b.act(page(), AgentAction("PRESS_ENTER", ids["title"]), "Enter saves the event.")
    else:
        b.act(page(), AgentAction("CLICK", ids["save"]), f'"{save}" adds the event.')
    after = _Elements()
    after.items = list(grid.items)
    after.add("button", f"{title}, {start} to {end}", "button", new=True)
    text = _text(b, app, [app, "Event saved", f"{title} {start} to {end}"])
    b.act(SyntheticPage(url, text, after.items), AgentAction("FINISH"), "The event is in the calendar.")


_MEETINGS = ("Hiring sync", "Product roadmap", "Dentist", "1:1 with Priya", "Release retro", "Vendor call")


def _later(slot: str) -> str:
    hour, minute = map(int, slot.split(":"))
    total = hour * 60 + minute + 30
    return f"{total // 60:02d}:{total % 60:02d}"


# ----------------------------------------------------------------------------- shop search


_PRODUCTS = (
    "headphones",
    "running shoes",
    "desk lamp",
    "coffee grinder",
    "backpack",
    "monitor",
    "keyboard",
    "rain jacket",
    "water bottle",
    "blender",
)
_BRANDS = ("Aria", "Strider", "Nimbus", "Vertex", "Lumen", "Kestrel", "Orbit", "Sonic", "Tundra", "Volta")


def _search(b: _Builder) -> None:
    s, v = b.structure, b.values
    app = s.choice(("gearbox", "Shopfront", "Pricely", "Marketo"))
    menu = s.sample(["Home", "Deals", "Cart (0)", "Account", "Help", "Orders"], 0 if b.bare else s.randint(2, 5))
    click_first = s.random() < 0.5
    button = s.random() < 0.6
    enter_searches = not button or s.random() < 0.4
    sort_first = s.random() < 0.3
    asks_price = s.random() < 0.5

    product = v.choice(_PRODUCTS)
    names = [f"{brand} {product}{model}" for brand in _BRANDS for model in ("", " Pro", " Lite", " 2")]
    results = [
        (name, f"${v.randint(20, 400)}.{v.choice((0, 49, 99)):02d}")
        for name in v.sample(names, 16 if b.long else v.randint(3, 6))
    ]
    wanted, price = v.choice(results)
    b.goal = f'Search the shop for "{product}" and open "{wanted}".' + (" Tell me its price." if asks_price else "")

    def top(page: _Elements) -> tuple[str, str | None]:
        page.links(menu, "/shop/", b.seed)
        box = page.add("searchbox", "Search products", "input", placeholder="Search products")
        go = page.add("button", "Search", "button") if button else None
        return box, go

    home = _Elements()
    box, go = top(home)
    for brand in s.sample(_BRANDS, 3):
        home.add("link", f"{brand} deals", "a", href=f"/shop/{brand.lower()}/?seed={b.seed}")
    url = b.url("/shop/")
    text = _text(b, app, [app, *menu, "Search products", "Today's deals"])
    if click_first:
        b.act(SyntheticPage(url, text, home.items), AgentAction("CLICK", box), "Focus the search box.")
    b.act(SyntheticPage(url, text, home.items), AgentAction("TYPE", box, product), "Type what to search for.")
    typed = _with(home.items, {box: {"value": product}})
    if enter_searches:
        b.act(SyntheticPage(url, text, typed), AgentAction("PRESS_ENTER", box), "Enter runs the search.")
    else:
        b.act(SyntheticPage(url, text, typed), AgentAction("CLICK", go), "The Search button runs the search.")
    listing = _Elements()
    box, go = top(listing)
    listing.items = _with(listing.items, {box: {"value": product}})
    sort = listing.add("button", "Sort by price", "button")
    listing.add("button", "Sort by rating", "button")
    ranked = sorted(results, key=lambda r: float(r[1][1:])) if sort_first else results
    url = b.url("/shop/search/")

    def result_page(rows: list[tuple[str, str]]) -> SyntheticPage:
        page = _Elements()
        page.items = list(listing.items)
        ids = {name: page.add("link", name, "a", href=f"/shop/p/{_slug(name)}/?seed={b.seed}") for name, _ in rows}
        lines = [app, f'Results for "{product}"', *[f"{name}\n{cost}" for name, cost in rows]]
        return SyntheticPage(url, _text(b, app, lines), page.items), ids

    page, ids = result_page(results)
    if sort_first:
        b.act(page, AgentAction("CLICK", sort), "Sort the results by price first.")
        page, ids = result_page(ranked)
    b.act(page, AgentAction("CLICK", ids[wanted]), f'Open "{wanted}" from the results.')
    item = _Elements()
    top(item)
    item.add("button", "Add to cart", "button")
    item.add("textbox", "Note for yourself", "input", placeholder="Why are you watching this price?")
    item.add("button", "Notify me", "button")
    text = _text(b, app, [app, wanted, f"Price {price}", "Add to cart", "Price alert"])
    b.act(
        SyntheticPage(b.url(f"/shop/p/{_slug(wanted)}/"), text, item.items),
        AgentAction("FINISH", None, price if asks_price else None),
        "The product page is open.",
    )


# ----------------------------------------------------------------------------- inbox


_QUESTIONS = (
    ("the meeting time", "time"),
    ("the invoice amount", "money"),
    ("the confirmation code", "code"),
    ("the meeting room", "room"),
)


def _inbox(b: _Builder) -> None:
    s, v = b.structure, b.values
    app = s.choice(("Planwise", "Mailbox", "Postal"))
    folders = s.sample(["Inbox", "Starred", "Archive", "Sent", "Spam"], s.randint(2, 4))
    open_inbox_first = s.random() < 0.3
    count = v.randint(14, 24) if b.long else v.randint(3, 8)
    senders = v.sample([f"{first} {last}" for first in _FIRST for last in _LAST], count)
    subjects = [f"{_value('phrase', v)}" for _ in senders]
    question, kind = v.choice(_QUESTIONS)
    pick = v.randrange(count)
    answer = {
        "time": f"{v.randint(8, 17):02d}:{v.choice((0, 15, 30, 45)):02d}",
        "money": f"${v.randint(10, 999)}.{v.randint(0, 99):02d}",
        "code": f"{v.choice('ABCDEFGHK')}{v.randint(100, 999)}{v.choice('QRSTXYZ')}",
        "room": v.choice(_OPTIONS["Room"]),
    }[kind]
    b.goal = f"Read the email from {senders[pick]} and tell me {question}."

    def page_elements() -> tuple[_Elements, dict[str, str], list[str]]:
        page = _Elements()
        page.links(["Mail", "Calendar"], "/", b.seed, "Mail")
        page.add("searchbox", "Search mail", "input")
        folder_ids = {
            name: page.add("button", f"{name} {count}" if name == "Inbox" else name, "button") for name in folders
        }
        message_ids = [
            page.add("button", f"Email from {who}: {what}", "button")
            for who, what in zip(senders, subjects, strict=True)
        ]
        return page, folder_ids, message_ids

    page, folder_ids, message_ids = page_elements()
    url = b.url("/inbox/")
    listing = [f"{who}\n{what}" for who, what in zip(senders, subjects, strict=True)]
    text = _text(b, app, [app, "Mail", "Calendar", *folders, *listing, "Select a message to read it."])
    if open_inbox_first and "Inbox" in folder_ids:
        b.act(SyntheticPage(url, text, page.items), AgentAction("CLICK", folder_ids["Inbox"]), "Open the inbox first.")
    b.act(
        SyntheticPage(url, text, page.items),
        AgentAction("CLICK", message_ids[pick]),
        f"The email from {senders[pick]} holds the answer.",
    )
    body = {
        "time": f"Could we meet on Thursday? The meeting starts at {answer}.",
        "money": f"Your invoice of {answer} is ready.",
        "code": f"Your confirmation code is {answer}.",
        "room": f"We will meet in room {answer}.",
    }[kind]
    reading = [app, *listing, f"From: {senders[pick]}", f"Subject: {subjects[pick]}", f"Hi, {body} Best regards"]
    b.act(
        SyntheticPage(url, _text(b, app, reading), page.items),
        AgentAction("FINISH", None, answer),
        "The email answers the question.",
    )


# ----------------------------------------------------------------------------- flights


_AIRLINES = ("SkyJet", "Aerolux", "Nordwing", "Bluebird", "Transalp", "Coastair", "Polar", "Meridian")
_CITIES = ("Vienna", "Madrid", "Oslo", "Lisbon", "Prague", "Berlin", "Dublin", "Athens", "Zurich", "Milan")


def _flights(b: _Builder) -> None:
    s, v = b.structure, b.values
    app = s.choice(("SkyFare", "JetDeal", "Flyby"))
    sort_first = s.random() < 0.35
    asks_code = s.random() < 0.4
    origin, destination = v.sample(_CITIES, 2)
    count = v.randint(14, 22) if b.long else v.randint(3, 7)
    flights = []
    for _ in range(count):
        time = f"{v.randint(6, 21):02d}:{v.choice((0, 5, 20, 35, 50)):02d}"
        flights.append((v.choice(_AIRLINES), time, v.randint(39, 480)))
    flights = list({(a, t): (a, t, p) for a, t, p in flights}.values())
    airline, time, price = v.choice(flights)
    code = f"{v.choice('BCDFGHJK')}{v.choice('LMNPQRST')}{v.randint(1000, 9999)}"
    b.goal = f"Book the {airline} flight from {origin} to {destination} at {time}." + (
        " Tell me the confirmation code." if asks_code else ""
    )
    url = b.url(f"/flights/{app.lower()}/")

    def results(rows: list[tuple[str, str, int]]) -> tuple[SyntheticPage, str, dict[tuple[str, str], str]]:
        page = _Elements()
        page.links(["Trip planner", "SkyFare", "JetDeal"], "/flights/", b.seed, app)
        sort = page.add("button", "Sort by price", "button")
        ids = {(a, t): page.add("button", f"Book {a} {t} for {p} USD", "button") for a, t, p in rows}
        lines = [app, f"{origin} to {destination}", *[f"{a} {t} {p} USD" for a, t, p in rows]]
        return SyntheticPage(url, _text(b, app, lines), page.items), sort, ids

    page, sort, ids = results(flights)
    if sort_first:
        b.act(page, AgentAction("CLICK", sort), "Sort the flights by price first.")
        page, sort, ids = results(sorted(flights, key=lambda f: f[2]))
    b.act(page, AgentAction("CLICK", ids[(airline, time)]), f"Book the {airline} flight at {time}.")
    done = _Elements()
    done.links(["Trip planner", "SkyFare", "JetDeal"], "/flights/", b.seed, app)
    done.add("link", "My trips", "a", href=f"/flights/trips/?seed={b.seed}")
    text = _text(b, app, [app, f"Booked {airline} {time} for {price} USD.", f"Confirmation {code}"])
    b.act(
        SyntheticPage(url, text, done.items),
        AgentAction("FINISH", None, code if asks_code else None),
        "The booking is confirmed.",
    )


_BUILDERS: dict[str, Callable[[_Builder], None]] = {
    "form": _form,
    "calendar": _calendar,
    "search": _search,
    "inbox": _inbox,
    "flights": _flights,
}


# ----------------------------------------------------------------------------- values and text


_FIRST = ("Nora", "Ali", "Mia", "Jonas", "Priya", "Chen", "Sofia", "Omar", "Lena", "Kenji", "Ada", "Luis", "Maria")
_LAST = ("Haddad", "Khan", "Berg", "Novak", "Rossi", "Okafor", "Silva", "Tanaka", "Weber", "Dubois", "Chen")
_WORDS = (
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


def _value(kind: str, rng: random.Random) -> str:
    if kind == "person":
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    if kind == "money":
        return f"{rng.randint(5, 999)}.{rng.randint(0, 99):02d}"
    if kind == "date":
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if kind == "count":
        return str(rng.randint(1, 12))
    if kind == "city":
        return rng.choice(_CITIES)
    if kind == "email":
        return f"{rng.choice(_FIRST).lower()}.{rng.choice(_LAST).lower()}@example.com"
    if kind == "phone":
        return f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    if kind == "reference":
        return f"REF-{rng.randint(1000, 9999)}"
    return " ".join(rng.sample(_WORDS, rng.randint(1, 4))).capitalize()


def _filler_lines(rng: random.Random, count: int) -> list[str]:
    lines = []
    for _ in range(count):
        who = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        lines.append(f"{_value('reference', rng)} · {rng.choice(('Paid', 'Pending', 'Approved'))}")
        lines.append(f"{who} · {_value('phrase', rng)} · ${_value('money', rng)}")
    return lines


def _text(b: _Builder, app: str, lines: list[str]) -> str:
    """Visible page text; like the bundled sites, most pages show the task on top."""
    if b.bare:
        return ""
    return "\n".join([f"Task{b.goal}", *lines] if b.task_line else lines)
