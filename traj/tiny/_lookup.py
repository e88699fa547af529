"""Skill families: made-up sites where every decision looks something up in the goal.

The site families of :mod:`traj.tiny._synthetic` teach the action format and a site's
conventions, but their goals name fields by a fixed word, so the model learned to continue a
demonstration rather than to read the goal (0% on the held-out ``settings`` typing step, issue
25). Here the *values* of an episode decide what to act on: which field the goal names, which
option, which entry. A demonstration of the same site with other values therefore shows the
procedure but not the answer, and only the goal gives it:

- ``fields``: labelled fields with their current values; *type the goal's value into the field
  its label names* (one or two of them, a select's option among them), save, finish.
- ``choice``: a row of options (radio buttons or a select); *pick the option the goal names*,
  confirm, finish.
- ``directory``: a list of entries; *click the entry the goal names*, then *answer from the page*
  (copy a number, date or name verbatim).

Disjoint from the bundled sites and from the held-out kinds (:mod:`traj.tiny._heldout`): no
profile page, no order list, none of their labels' wording or goal sentences.
"""

from __future__ import annotations

from traj.prompt import AgentAction
from traj.tiny._builder import OPTIONS, Builder, Elements, SyntheticPage, page_text, slug, value_of, with_attrs

__all__ = ["build_choice", "build_directory", "build_fields"]

_LABELS = {
    "Nickname": "person",
    "Contact person": "person",
    "Manager": "person",
    "Emergency contact": "person",
    "Backup email": "email",
    "Work email": "email",
    "Billing email": "email",
    "Mobile": "phone",
    "Office phone": "phone",
    "Fax": "phone",
    "Home city": "city",
    "Office location": "city",
    "Destination": "city",
    "Team": "phrase",
    "Job title": "phrase",
    "Project": "phrase",
    "Headline": "phrase",
    "Tagline": "phrase",
    "Invoice number": "reference",
    "Ticket": "reference",
    "Start date": "date",
    "Due date": "date",
    "Birthday": "date",
    "Price": "money",
    "Spending limit": "money",
    "Deposit": "money",
    "Seats": "count",
    "Floor": "count",
    "Copies": "count",
}
_APPS = ("Toolbox", "Crewdesk", "Fleetly", "Nimbus", "Orbit", "Pantry", "Quill", "Rivet")
_SAVE = (("Apply", "Reset"), ("Save", "Discard"), ("Update", "Back"), ("Done", "Undo"), ("Confirm", "Skip"))
_ONE = (
    "Set the {0} to {1}.",
    "Update the {0} to {1}, then save.",
    "Make {1} the new {0} and apply it.",
    "Replace the {0} with {1}.",
    "The {0} should read {1}. Save it.",
    "Please put {1} as the {0}.",
)
_TWO = (
    "Set the {0} to {1} and the {2} to {3}.",
    "Update {0}: {1}; {2}: {3}. Then save.",
    "Put {1} as the {0} and {3} as the {2}, and apply.",
)
_PICK = ("Choose {1} as the {0}.", "Switch the {0} to {1}.", "Select {1} for the {0} and confirm.", "Pick {1}.")
_OPEN = (
    "Open {0} and tell me the {1}.",
    "What is the {1} of {0}? Look it up.",
    "Find {0} in the list; answer with its {1}.",
)
_DETAILS = {"phone": "phone", "due date": "date", "budget": "money", "owner": "person", "location": "city"}


def build_fields(b: Builder) -> None:
    """Labelled fields with current values; the goal names one or two and gives their new values."""
    s, v = b.structure, b.values
    app = s.choice(_APPS)
    labels = s.sample(list(_LABELS), s.randint(3, 7))
    select = s.choice([*OPTIONS]) if s.random() < 0.4 else None
    save, other = s.choice(_SAVE)
    buttons = [save, other] if s.random() < 0.5 else [other, save]
    two = s.random() < 0.35
    current = {label: value_of(_LABELS[label], v) if v.random() < 0.7 else "" for label in labels}
    names = [*labels, *([select] if select else [])]
    chosen = v.sample(names, 2 if two else 1)
    wanted = {}
    for label in chosen:
        wanted[label] = _fresh(label, select, current.get(label, ""), b)
    words = [part for label in chosen for part in (label.lower(), wanted[label])]
    b.goal = (v.choice(_TWO) if two else v.choice(_ONE)).format(*words)
    page = Elements()
    if not b.bare:
        page.links(["Overview", "Settings", "Members", "Help"][: s.randint(2, 4)], f"/{slug(app)}/", b.seed)
    ids = {label: page.add("textbox", label, "input", type="text", value=current[label]) for label in labels}
    if select:
        ids[select] = page.add("combobox", select, "select", selected=OPTIONS[select][0])
    button_ids = {name: page.add("button", name, "button") for name in buttons}
    lines = [app, "Settings", *(f"{label}: {current[label] or '-'}" for label in labels)]
    text = page_text(b, app, lines + ([select, *OPTIONS[select]] if select else []))
    url = b.url(f"/{slug(app)}/settings/")
    filled: dict[str, dict[str, str]] = {}
    for label in chosen:
        target = ids[label]
        page_now = SyntheticPage(url, text, with_attrs(page.items, filled))
        if label == select:
            b.act(page_now, AgentAction("SELECT", target, wanted[label]), "pick the option the goal names")
            filled[target] = {"selected": wanted[label]}
        else:
            action = AgentAction("TYPE", target, wanted[label])
            b.act(page_now, action, "type the goal's value into the field its label names")
            filled[target] = {"value": wanted[label]}
    done = with_attrs(page.items, filled)
    b.act(SyntheticPage(url, text, done), AgentAction("CLICK", button_ids[save]), f'"{save}" keeps the changes')
    saved = page_text(b, app, [app, "Settings", "Your changes were applied."])
    b.act(SyntheticPage(url, saved, done), AgentAction("FINISH"), "finish when the page confirms")


def build_choice(b: Builder) -> None:
    """A group of options (radio buttons or a select); the goal names the one to pick."""
    s, v = b.structure, b.values
    app = s.choice(_APPS)
    label = s.choice([*OPTIONS])
    radios = s.random() < 0.5
    save, other = s.choice(_SAVE)
    wanted = v.choice(OPTIONS[label])
    b.goal = v.choice(_PICK).format(label.lower(), wanted)
    page = Elements()
    if not b.bare:
        page.links(["Overview", "Preferences", "Help"], f"/{slug(app)}/", b.seed)
    if radios:
        ids = {option: page.add("radio", option, "input", type="radio") for option in OPTIONS[label]}
        target, action = ids[wanted], AgentAction("CLICK", ids[wanted])
    else:
        target = page.add("combobox", label, "select", selected=OPTIONS[label][0])
        action = AgentAction("SELECT", target, wanted)
    confirm = page.add("button", save, "button")
    page.add("button", other, "button")
    text = page_text(b, app, [app, f"Preferences: {label}", *OPTIONS[label]])
    url = b.url(f"/{slug(app)}/preferences/")
    b.act(SyntheticPage(url, text, page.items), action, "pick the option the goal names")
    change = {"checked": "true"} if radios else {"selected": wanted}
    picked = with_attrs(page.items, {target: change})
    b.act(SyntheticPage(url, text, picked), AgentAction("CLICK", confirm), f'"{save}" confirms the choice')
    b.act(SyntheticPage(url, page_text(b, app, [app, "Saved."]), picked), AgentAction("FINISH"), "finish when saved")


def build_directory(b: Builder) -> None:
    """Entries by name; the goal names one and asks a detail the entry's page shows."""
    s, v = b.structure, b.values
    app = s.choice(_APPS)
    kind = s.choice(("person", "phrase", "reference"))
    detail = s.choice(list(_DETAILS))
    entries = list(dict.fromkeys(value_of(kind, v) for _ in range(s.randint(3, 9))))
    pick = v.choice(entries)
    answer = value_of(_DETAILS[detail], v)
    b.goal = v.choice(_OPEN).format(pick, detail)
    url = b.url(f"/{slug(app)}/directory/")
    page = Elements()
    if not b.bare:
        page.links(["Directory", "Groups", "Help"], f"/{slug(app)}/", b.seed, "Directory")
    role, tag = ("link", "a") if s.random() < 0.6 else ("button", "button")
    ids = {name: page.add(role, name, tag) for name in entries}
    lines = [app, "Directory", *(f"{name} · {value_of(_DETAILS[detail], v)}" for name in entries)]
    listing = SyntheticPage(url, page_text(b, app, lines), page.items)
    b.act(listing, AgentAction("CLICK", ids[pick]), "open the entry the goal names")
    entry = Elements()
    if not b.bare:
        entry.links(["Directory", "Groups", "Help"], f"/{slug(app)}/", b.seed)
    entry.add("button", "Back", "button")
    shown = [f"{pick}", f"{detail.capitalize()}: {answer}", f"Updated: {value_of('date', v)}"]
    b.act(
        SyntheticPage(f"{url}{slug(pick)}/", "\n".join(shown), entry.items),
        AgentAction("FINISH", None, answer),
        "answer from the page, verbatim",
    )


def _fresh(label: str, select: str | None, current: str, b: Builder) -> str:
    """A new value for ``label`` that differs from the one the page shows."""
    while True:
        value = b.values.choice(OPTIONS[label][1:]) if label == select else value_of(_LABELS[label], b.values)
        if value != current:
            return value
