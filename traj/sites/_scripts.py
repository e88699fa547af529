"""Scripted demonstrations of the five bundled tasks, driven through real mouse and keyboard input.

Each script acts the way a person would, so a recorder attached to the page captures
exactly what it would capture from one: it clicks at the centre of an element's box
(``page.mouse.click``), types with ``page.keyboard``, scrolls with the mouse wheel and
follows links by clicking them. It *reads* the page freely to decide what to do, and
takes the goal from ``window.traj.goal`` rather than knowing the answer for a seed.

It finds things the way a person does, never by id or class: by role and accessible
name, label and visible text, inside the named form or section the task is about. So it
works on every page variant (renamed markup, a lookalike form before the real one), and
where the task's final control is missing it fails at once with ``BrowserError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from traj.errors import BrowserError, first_line
from traj.sites._catalog import SITES

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

__all__ = ["SCRIPTS", "fill_expense", "run_script"]

_TYPE_DELAY_MS = 8
_PAUSE_MS = 40
_WAIT_MS = 5_000


def run_script(
    name: str, page: Page, base_url: str, seed: int, *, fast: bool = False, variant: str | None = None
) -> None:
    """Perform task ``name`` on ``page`` for ``seed`` the way a person would, starting at its start URL.

    The page is sent to the start URL (of ``variant``, when given) first unless it is
    already there (a recorder that opened it keeps its first observation). Raises
    ``BrowserError`` when the page does not behave as the task expects, e.g. when the
    ``removed`` variant has no control to finish the task with.
    """
    from playwright.sync_api import Error as PlaywrightError

    if name not in SCRIPTS:
        raise ValueError(f"unknown demo site {name!r}; known: {', '.join(SCRIPTS)}")
    url = SITES[name].start_url(base_url, seed, fast=fast, variant=variant)
    try:
        if page.url != url:
            page.goto(url)
        page.wait_for_function("() => window.traj !== undefined", timeout=_WAIT_MS)
        SCRIPTS[name](page)
    except PlaywrightError as exc:
        raise BrowserError(f"the {name} demonstration failed: {first_line(exc)}") from None


def calendar(page: Page) -> None:
    """Block out the requested slot: click its half-hour cell, set the end, type the title, press Enter."""
    goal = _goal(page)
    found = re.search(r"Block out (\w+, \w+ \d+) from (\d\d:\d\d) to (\d\d:\d\d) .*title \"(.*)\"", goal)
    if not found:
        raise BrowserError(f"cannot read the calendar goal: {goal!r}")
    day, start, end, title = found.groups()
    _add_event(page, day, start, end, title)


def cross_app(page: Page) -> None:
    """Open the organizer's email, read the meeting, switch to the calendar and add it there."""
    goal = _goal(page)
    found = re.search(r"email from (.+?) with the meeting", goal)
    if not found:
        raise BrowserError(f"cannot read the cross-app goal: {goal!r}")
    organizer = found.group(1)
    messages = _region(page, "Messages")
    _click(page, messages.get_by_role("button", name=re.compile(r"^Email from " + re.escape(organizer) + ":")))
    reader = page.get_by_role("article", name="Reading pane", exact=True)
    details = reader.get_by_text(re.compile(r"^Title: "))
    details.wait_for(timeout=_WAIT_MS)
    found = re.search(r"Title: (.+)\nWhen: (\w+, \w+ \d+), (\d\d:\d\d)\D(\d\d:\d\d)", details.inner_text())
    if not found:
        raise BrowserError("the organizer's email holds no meeting details")
    title, day, start, end = found.groups()
    _pause(page, 150)  # a person reads the email before switching apps
    apps = page.get_by_role("navigation", name="Apps", exact=True)
    _follow(page, apps.get_by_role("link", name="Calendar", exact=True))
    _add_event(page, day, start, end, title)


def flights(page: Page) -> None:
    """Search the trip on both travel sites, compare their cheapest fares and book the lower one."""
    goal = _goal(page)
    found = re.search(r"from (.+?) to (.+?) on (.+?) \((\d{4}-\d\d-\d\d)\) across", goal)
    if not found:
        raise BrowserError(f"cannot read the flights goal: {goal!r}")
    origin, destination, long_date, iso = found.groups()
    trip = _Trip(origin, destination, iso=iso, label=long_date)  # SkyFare lists dates long, JetDeal wants ISO

    site_links = _region(page, "Travel sites").get_by_role("link")
    sites = [text.removeprefix("Search ").strip() for text in site_links.all_inner_texts()]
    first, second = sites[0], sites[1]
    _follow(page, site_links.filter(has_text=first))
    best_first = _search(page, first, trip)
    _follow(page, _tripboard(page, second))
    best_second = _search(page, second, trip)
    if best_first[0] < best_second[0]:
        _follow(page, _tripboard(page, first))
        _search(page, first, trip)
        _book(page, first, best_first[1])
    else:
        _book(page, second, best_second[1])


def expense(page: Page) -> None:
    """Fill the expense report top to bottom, choosing the category with the keyboard, and submit it."""
    goal = _goal(page)
    found = re.search(r"for (.+?): date (\S+), category (.+?), amount ([\d.]+), description \"(.*)\"", goal)
    if not found:
        raise BrowserError(f"cannot read the expense goal: {goal!r}")
    employee, date, category, amount, description = found.groups()
    fill_expense(page, employee=employee, date=date, category=category, amount=amount, description=description)
    page.get_by_role("heading", name=re.compile(r"^Expense report \S+ submitted$")).wait_for(timeout=_WAIT_MS)


_EXPENSE_LABELS = {
    "employee": "Employee name",
    "date": "Date of expense",
    "category": "Category",
    "amount": "Amount (USD)",
    "description": "Description",
}


def fill_expense(page: Page, *, employee: str, date: str, category: str, amount: str, description: str) -> None:
    """Enter these values into the expense form (in the order the fields appear) and press Submit.

    Public so tests can submit bad input through the same real-input path.
    """
    form = page.get_by_role("form", name="Expense report", exact=True)
    values = {"employee": employee, "date": date, "category": category, "amount": amount, "description": description}
    fields = {name: form.get_by_label(label, exact=True) for name, label in _EXPENSE_LABELS.items()}
    for name in sorted(values, key=lambda name: _position(fields[name])):
        if name == "category":
            _choose(page, fields[name], values[name])
        else:
            _type_into(page, fields[name], values[name])
    _click(page, _final(form.get_by_role("button", name="Submit report", exact=True), "the expense form"))


def price(page: Page) -> None:
    """Write the note, watch the price until it is below the threshold, then press "Notify me"."""
    goal = _goal(page)
    found = re.search(r"below \$(\d+(?:\.\d+)?), press \"Notify me\" with the note \"(.*)\"", goal)
    if not found:
        raise BrowserError(f"cannot read the price goal: {goal!r}")
    threshold, note = float(found.group(1)), found.group(2)
    alert = _region(page, "Price alert")
    _type_into(page, alert.get_by_label("Note for yourself", exact=True), note)
    # Watching is reading: wait until the shown price (the one amount on its own, "$123.45") is below the threshold.
    shown = page.get_by_text(re.compile(r"^\$\d+\.\d\d$"))
    page.wait_for_function(
        "([shown, limit]) => parseFloat(shown.textContent.replace(/[^0-9.]/g, '')) < limit",
        arg=[shown.element_handle(timeout=_WAIT_MS), threshold],
        timeout=30_000,
        polling=50,
    )
    _click(page, _final(alert.get_by_role("button", name="Notify me", exact=True), "the price alert"))
    alert.get_by_text("Alert saved").wait_for(timeout=_WAIT_MS)


SCRIPTS: dict[str, Callable[[Page], None]] = {
    "calendar": calendar,
    "flights": flights,
    "expense": expense,
    "price": price,
    "cross_app": cross_app,
}
"""The scripted demonstration of each task, by task name; each takes a page already on the task's start URL."""


# ----------------------------------------------------------------------------- task steps


class _Trip(NamedTuple):
    """The trip the flights goal asks for, in the forms the two sites want it."""

    origin: str
    destination: str
    iso: str
    label: str


def _add_event(page: Page, day: str, start: str, end: str, title: str) -> None:
    """Create an event in the calendar: click the day's half-hour cell where it starts, fill the dialog, Enter."""
    week = _region(page, "Week view")
    _click(page, week.get_by_role("button", name=f"{day}, {start}", exact=True))
    dialog = page.get_by_role("dialog", name="New event", exact=True)
    dialog.wait_for(timeout=_WAIT_MS)
    _choose(page, dialog.get_by_label("Ends", exact=True), end)
    _type_into(page, dialog.get_by_label("Title", exact=True), title)
    _final(dialog.get_by_role("button", name="Save", exact=True), "the New event dialog")
    page.keyboard.press("Enter")  # saves, as in any calendar
    dialog.wait_for(state="hidden", timeout=_WAIT_MS)


def _search(page: Page, site: str, trip: _Trip) -> tuple[int, int]:
    """Search ``trip`` on ``site``; the cheapest result as (price, its position in the list)."""
    if site == "SkyFare":
        form = page.get_by_role("form", name="Flight search", exact=True)
        _type_into(page, form.get_by_label("From", exact=True), trip.origin)
        _type_into(page, form.get_by_label("To", exact=True), trip.destination)
        _choose(page, form.get_by_label("Departure", exact=True), trip.label)
        _follow(page, form.get_by_role("button", name="Search flights", exact=True))
        results = page.get_by_role("list", name="Search results", exact=True).get_by_role("listitem")
        prices = [_amount(r"\$(\d+)", text) for text in results.all_inner_texts()]
    else:
        form = page.get_by_role("form", name="Find flights", exact=True)
        _choose(page, form.get_by_label("Flying from", exact=True), trip.origin)
        _choose(page, form.get_by_label("Flying to", exact=True), trip.destination)
        _type_into(page, form.get_by_label("Date (YYYY-MM-DD)", exact=True), trip.iso)
        with page.expect_navigation(timeout=_WAIT_MS):
            page.keyboard.press("Enter")  # submits the search form
        page.wait_for_function("() => window.traj !== undefined", timeout=_WAIT_MS)
        rows = page.get_by_role("table", name="Deals", exact=True).locator("tbody tr")
        prices = [_amount(r"(\d+) USD", text) for text in rows.all_inner_texts()]
    if not prices:
        raise BrowserError(f"{site} lists no flights for the trip")
    cheapest = min(prices)
    return cheapest, prices.index(cheapest)


def _book(page: Page, site: str, index: int) -> None:
    """Book the ``index``-th result on the results page of ``site``."""
    if site == "SkyFare":
        result = page.get_by_role("list", name="Search results", exact=True).get_by_role("listitem").nth(index)
        _click(page, result.get_by_role("button", name=re.compile(r"^Select ")))
        review = page.get_by_role("dialog")
        review.wait_for(timeout=_WAIT_MS)
        _click(page, _final(review.get_by_role("button", name="Confirm booking", exact=True), "SkyFare's review"))
        review.get_by_role("heading", name=re.compile("booked")).wait_for(timeout=_WAIT_MS)
    else:
        row = page.get_by_role("table", name="Deals", exact=True).locator("tbody tr").nth(index)
        _click(page, row.get_by_role("button", name=re.compile(r"^Book ")))
        booking = _region(page, "Booking")
        booking.wait_for(timeout=_WAIT_MS)
        _click(
            page, _final(booking.get_by_role("button", name=re.compile(r"^Pay \d+ USD$")), "JetDeal's booking panel")
        )
        booking.get_by_role("heading", name="Booking confirmed", exact=True).wait_for(timeout=_WAIT_MS)


def _tripboard(page: Page, site: str) -> Locator:
    """The link to ``site`` on the TripBoard strip both travel sites carry."""
    return page.get_by_role("navigation", name="TripBoard", exact=True).get_by_role("link", name=site, exact=True)


def _amount(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    if not found:
        raise BrowserError(f"a listed flight shows no price: {text!r}")
    return int(found.group(1))


def _region(page: Page, name: str) -> Locator:
    """The section (or form) of the page with this accessible name: where a person looks for the task's controls."""
    return page.get_by_role("region", name=name, exact=True)


def _final(control: Locator, where: str) -> Locator:
    """The control that completes the task, once the page shows ``where``; a missing or disabled one fails at once.

    Nothing is left to wait for at this point, so a page without it (the ``removed``
    variant) is reported straight away instead of after a timeout.
    """
    if control.count() != 1:
        raise BrowserError(f"{where} has no control to finish the task ({control.count()} found)")
    if control.is_disabled():
        raise BrowserError(f"{where} offers its final control only disabled")
    return control


# ----------------------------------------------------------------------------- real input


def _goal(page: Page) -> str:
    return str(page.evaluate("window.traj.goal"))


def _pause(page: Page, ms: int = _PAUSE_MS) -> None:
    page.wait_for_timeout(ms)


def _position(target: Locator) -> tuple[float, float]:
    box = target.bounding_box()
    return (box["y"], box["x"]) if box else (float("inf"), float("inf"))


def _click(page: Page, target: Locator) -> None:
    """Move the mouse to the centre of ``target`` (scrolling it into view with the wheel) and click."""
    box = _in_view(page, target)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    _pause(page)


def _follow(page: Page, link: Locator) -> None:
    """Click a link or submit button and wait for the page it leads to."""
    with page.expect_navigation(timeout=_WAIT_MS):
        _click(page, link)
    page.wait_for_function("() => window.traj !== undefined", timeout=_WAIT_MS)


def _type_into(page: Page, field: Locator, text: str) -> None:
    """Click a text field, select what it holds (so typing replaces it) and type ``text``."""
    _click(page, field)
    if field.input_value():
        page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(text, delay=_TYPE_DELAY_MS)
    _pause(page)


def _choose(page: Page, select: Locator, label: str) -> None:
    """Pick an option of a ``<select>`` by keyboard: click it open, type the label's start, press Enter."""
    _click(page, select)
    page.keyboard.type(label, delay=_TYPE_DELAY_MS)
    page.keyboard.press("Enter")
    _pause(page)
    chosen = select.evaluate("s => s.selectedIndex < 0 ? '' : s.options[s.selectedIndex].text")
    if not str(chosen).startswith(label):
        raise BrowserError(f"typing {label!r} into a select chose {chosen!r}")


def _in_view(page: Page, target: Locator) -> dict[str, float]:
    """The box of ``target`` once it is inside the viewport, scrolled there with the mouse wheel."""
    target.wait_for(state="visible", timeout=_WAIT_MS)
    width, height = page.evaluate("[window.innerWidth, window.innerHeight]")
    for _ in range(12):
        box = target.bounding_box()
        if box is None:
            raise BrowserError("an element to act on has no box on the page")
        middle = box["y"] + box["height"] / 2
        if 0 <= middle <= height and 0 <= box["x"] + box["width"] / 2 <= width:
            return box
        # Wheel over the nearest visible point of the element, so its own scroll container moves.
        x = min(max(box["x"] + box["width"] / 2, 1), width - 1)
        y = min(max(middle, 1), height - 1)
        page.mouse.move(x, y)
        page.mouse.wheel(0, middle - height / 2)
        _pause(page, 60)
    raise BrowserError("could not scroll an element into view")
