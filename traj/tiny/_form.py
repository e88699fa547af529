"""Synthetic forms (expense report, ticket, booking): fields filled in a family's order, look-alike buttons."""

from __future__ import annotations

import random
from dataclasses import dataclass

from traj.prompt import AgentAction
from traj.tiny._builder import (
    OPTIONS,
    WORDS,
    Builder,
    Elements,
    SyntheticPage,
    filler_lines,
    page_text,
    slug,
    value_of,
    with_attrs,
)

__all__ = ["build_form"]


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


def build_form(b: Builder) -> None:
    s = b.structure
    site = s.choice(_FORM_SITES)
    # three to seven fields, most clicked before typing: 47% of the episodes reach step 10, whose
    # two-digit line numbers the copying circuit must keep apart (with 2-7 fields, half clicked,
    # 30% did, and the model copied step 1's action at step 10 of the expense form)
    fields = [_FIELDS[label] for label in s.sample(site.fields, s.randint(3, 7))]
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
    click_first = s.random() < 0.7
    enter_submits = fields[order[-1]].role == "textbox" and s.random() < 0.3
    asks_reference = s.random() < 0.35
    quoted = s.random() < 0.75
    goal_order = list(range(len(fields)))
    s.shuffle(goal_order)
    search = s.random() < 0.3
    filler = filler_lines(s, 30 if b.long else s.randint(0, 6))
    more_links = [f"{s.choice(WORDS).capitalize()} {n}" for n in range(s.randint(20, 50))]

    v = b.values
    values = [_field_value(f, v) for f in fields]
    stated = _join([f"{fields[i].word} {_stated(values[i], fields[i].kind, quoted)}" for i in goal_order])
    b.goal = f"{site.verb}: {stated}." + (" Then tell me its reference number." if asks_reference else "")
    reference = f"{site.prefix}-{v.randint(1000, 9999)}"

    def header(page: Elements, current: str | None) -> dict[str, str]:
        ids = page.links(menu, site.path, b.seed, current)
        if search:
            page.add("searchbox", "Search", "input", placeholder=f"Search {site.app}")
        if b.long:
            page.links(more_links, site.path, b.seed)
        return ids

    if via_menu:
        start = Elements()
        ids = header(start, "Dashboard" if "Dashboard" in menu else None)
        text = page_text(b, site.app, [f"Welcome back to {site.app}", *menu, *filler])
        b.act(
            SyntheticPage(b.url(site.path), text, start.items),
            AgentAction("CLICK", ids[entry]),
            f'The form is behind the "{entry}" link.',
        )
    form = Elements()
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
    text = page_text(b, site.app, [*menu, site.heading, *[f.label for f in fields], *options, *buttons, *filler])
    url = b.url(f"{site.path}{slug(entry)}/")
    filled: dict[str, dict[str, str]] = {}

    def page() -> SyntheticPage:
        return SyntheticPage(url, text, with_attrs(form.items, filled))

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
    done = Elements()
    header(done, None)
    done.add("button", f"New {site.noun.lower()}", "button")
    done.add("link", f"View {reference}", "a", href=f"{site.path}{reference.lower()}/?seed={b.seed}")
    text = page_text(b, site.app, [*menu, f"{site.noun} {reference} submitted", "Thank you.", *filler])
    answer = reference if asks_reference else None
    b.act(SyntheticPage(url, text, done.items), AgentAction("FINISH", None, answer), "The confirmation is shown.")


def _field_value(f: _Field, rng: random.Random) -> str:
    if f.kind == "option":
        return rng.choice(OPTIONS[f.label])
    if f.kind == "time":
        return f"{rng.randint(8, 17):02d}:{rng.choice((0, 30)):02d}"
    return value_of(f.kind, rng)


def _options(f: _Field) -> list[str]:
    if f.kind == "time":
        return [f"{h:02d}:{m:02d}" for h in range(8, 18) for m in (0, 30)][:6]
    return [f"Choose {f.word}", *OPTIONS[f.label]]


def _stated(value: str, kind: str, quoted: bool) -> str:
    if kind in ("money", "date", "count", "time", "phone") or not quoted:
        return value
    return f'"{value}"'


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
