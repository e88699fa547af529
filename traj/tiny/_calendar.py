"""Synthetic calendar weeks with a new-event dialog."""

from __future__ import annotations

from traj.prompt import AgentAction
from traj.tiny._builder import Builder, Elements, SyntheticPage, page_text, value_of, with_attrs

__all__ = ["build_calendar"]


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_MONTHS = ("March", "April", "May", "June", "September", "October")


def build_calendar(b: Builder) -> None:
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
    title = value_of("phrase", v)
    b.goal = f'Block out {day} from {start} to {end} in the calendar with the title "{title}".'

    grid = Elements()
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
    text = page_text(b, app, [app, "Mail", "Calendar", "Today", f"{days[0]} to {days[-1]}", *slots])
    b.act(
        SyntheticPage(url, text, grid.items),
        AgentAction("CLICK", slot_ids[(day, start)]),
        f"The {start} cell of {day} opens a new event there.",
    )
    dialog = Elements()
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
    text = page_text(b, app, [app, "New event", f"{day}, {start}", "Title", "Ends", save, cancel])
    changes: dict[str, dict[str, str]] = {}
    first_view = True

    def page() -> SyntheticPage:
        nonlocal first_view
        elements = dialog.items if first_view else with_attrs(dialog.items, changes)
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
    after = Elements()
    after.items = list(grid.items)
    after.add("button", f"{title}, {start} to {end}", "button", new=True)
    text = page_text(b, app, [app, "Event saved", f"{title} {start} to {end}"])
    b.act(SyntheticPage(url, text, after.items), AgentAction("FINISH"), "The event is in the calendar.")


_MEETINGS = ("Hiring sync", "Product roadmap", "Dentist", "1:1 with Priya", "Release retro", "Vendor call")


def _later(slot: str) -> str:
    hour, minute = map(int, slot.split(":"))
    total = hour * 60 + minute + 30
    return f"{total // 60:02d}:{total % 60:02d}"
