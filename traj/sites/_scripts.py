"""Scripted demonstrations of the five bundled tasks, driven through real mouse and keyboard input.

Each script acts the way a person would, so a recorder attached to the page captures
exactly what it would capture from one: it clicks at the centre of an element's box
(``page.mouse.click``), types with ``page.keyboard``, scrolls with the mouse wheel and
follows links by clicking them. It *reads* the page freely (locators, text) to decide
what to do, and takes the goal from ``window.traj.goal`` rather than knowing the answer
for a seed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from traj.errors import BrowserError
from traj.sites._catalog import SITES

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

__all__ = ["SCRIPTS", "fill_expense", "run_script"]

_TYPE_DELAY_MS = 8
_PAUSE_MS = 40
_WAIT_MS = 5_000
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def run_script(name: str, page: Page, base_url: str, seed: int, *, fast: bool = False) -> None:
    """Perform task ``name`` on ``page`` for ``seed`` the way a person would, starting at its start URL.

    The page is sent to the start URL first unless it is already there (a recorder that
    opened it keeps its first observation). Raises ``BrowserError`` when the page does
    not behave as the task expects.
    """
    from playwright.sync_api import Error as PlaywrightError

    if name not in SCRIPTS:
        raise ValueError(f"unknown demo site {name!r}; known: {', '.join(SCRIPTS)}")
    url = SITES[name].start_url(base_url, seed, fast=fast)
    try:
        if page.url != url:
            page.goto(url)
        page.wait_for_function("() => window.traj !== undefined", timeout=_WAIT_MS)
        SCRIPTS[name](page)
    except PlaywrightError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BrowserError(f"the {name} demonstration failed: {first}") from None


def calendar(page: Page) -> None:
    """Block out the requested slot: click its half-hour cell, set the end, type the title, press Enter."""
    goal = _goal(page)
    found = re.search(r"Block out (\w+), (\w+) (\d+) from (\d\d:\d\d) to (\d\d:\d\d) .*title \"(.*)\"", goal)
    if not found:
        raise BrowserError(f"cannot read the calendar goal: {goal!r}")
    weekday, month, day, start, end, title = found.groups()
    _add_event(page, f"{weekday}, {month} {day}", start, end, title)


def cross_app(page: Page) -> None:
    """Open the organizer's email, read the meeting, switch to the calendar and add it there."""
    goal = _goal(page)
    found = re.search(r"email from (.+?) with the meeting", goal)
    if not found:
        raise BrowserError(f"cannot read the cross-app goal: {goal!r}")
    organizer = found.group(1)
    _click(page, page.get_by_role("button", name=re.compile(r"^Email from " + re.escape(organizer) + ":")))
    body = page.locator("#reader .body")
    body.wait_for(timeout=_WAIT_MS)
    details = re.search(r"Title: (.+)\nWhen: (\w+, \w+ \d+), (\d\d:\d\d)\D(\d\d:\d\d)", body.inner_text())
    if not details:
        raise BrowserError("the organizer's email holds no meeting details")
    title, day, start, end = details.groups()
    _pause(page, 150)  # a person reads the email before switching apps
    _follow(page, page.locator("nav.apps a", has_text="Calendar"))
    _add_event(page, day, start, end, title)


def flights(page: Page) -> None:
    """Search the trip on both travel sites, compare their cheapest fares and book the lower one."""
    goal = _goal(page)
    found = re.search(r"from (.+?) to (.+?) on (\w+), (\w+) (\d+), (\d{4}) across", goal)
    if not found:
        raise BrowserError(f"cannot read the flights goal: {goal!r}")
    origin, destination, weekday, month, day, year = found.groups()
    trip = _Trip(
        origin,
        destination,
        iso=f"{year}-{_MONTHS.index(month) + 1:02d}-{int(day):02d}",
        label=f"{weekday[:3]}, {month[:3]} {day}",  # how SkyFare's date select words it
    )

    sites = [link.inner_text().removeprefix("Search ").strip() for link in page.locator(".site a").all()]
    first, second = sites[0], sites[1]
    _follow(page, page.locator(".site a", has_text=first))
    best_first = _search(page, first, trip)
    _follow(page, page.locator(".tripboard a", has_text=second))
    best_second = _search(page, second, trip)
    if best_first[0] < best_second[0]:
        _follow(page, page.locator(".tripboard a", has_text=first))
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
    page.locator("#done-view").wait_for(timeout=_WAIT_MS)


def fill_expense(page: Page, *, employee: str, date: str, category: str, amount: str, description: str) -> None:
    """Enter these values into the expense form (in the order the fields appear) and press Submit.

    Public so tests can submit bad input through the same real-input path.
    """
    values = {"employee": employee, "date": date, "category": category, "amount": amount, "description": description}
    fields = sorted(values, key=lambda name: _position(page.locator(f"#{name}")))
    for name in fields:
        if name == "category":
            _choose(page, page.locator("#category"), values[name])
        else:
            _type_into(page, page.locator(f"#{name}"), values[name])
    _click(page, page.locator("#submit"))


def price(page: Page) -> None:
    """Write the note, watch the price until it is below the threshold, then press "Notify me"."""
    goal = _goal(page)
    found = re.search(r"below \$(\d+(?:\.\d+)?), press \"Notify me\" with the note \"(.*)\"", goal)
    if not found:
        raise BrowserError(f"cannot read the price goal: {goal!r}")
    threshold, note = float(found.group(1)), found.group(2)
    _type_into(page, page.locator("#note"), note)
    # Watching is reading: wait until the shown price is below the threshold.
    page.wait_for_function(
        "limit => parseFloat(document.querySelector('#price').textContent.replace(/[^0-9.]/g, '')) < limit",
        arg=threshold,
        timeout=30_000,
        polling=50,
    )
    _click(page, page.locator("#notify"))
    page.locator("#alert-status", has_text="Alert saved").wait_for(timeout=_WAIT_MS)


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
    _click(page, page.get_by_role("button", name=f"{day}, {start}", exact=True))
    page.locator("#event-dialog[open]").wait_for(timeout=_WAIT_MS)
    _choose(page, page.locator("#event-end"), end)
    _type_into(page, page.locator("#event-title"), title)
    page.keyboard.press("Enter")  # saves, as in any calendar
    page.locator("#event-dialog").wait_for(state="hidden", timeout=_WAIT_MS)


def _search(page: Page, site: str, trip: _Trip) -> tuple[int, int]:
    """Search ``trip`` on ``site``; the cheapest result as (price, its position in the list)."""
    if site == "SkyFare":
        _type_into(page, page.locator("#from"), trip.origin)
        _type_into(page, page.locator("#to"), trip.destination)
        _choose(page, page.locator("#date"), trip.label)
        _follow(page, page.locator("#search-button"))
        prices = page.locator(".result .amount").all_inner_texts()
    else:
        _choose(page, page.locator("#origin"), trip.origin)
        _choose(page, page.locator("#destination"), trip.destination)
        _type_into(page, page.locator("#when"), trip.iso)
        with page.expect_navigation(timeout=_WAIT_MS):
            page.keyboard.press("Enter")  # submits the search form
        page.wait_for_function("() => window.traj !== undefined", timeout=_WAIT_MS)
        prices = page.locator("#rows td.price").all_inner_texts()
    if not prices:
        raise BrowserError(f"{site} lists no flights for the trip")
    amounts = [int(re.sub(r"\D", "", text)) for text in prices]
    cheapest = min(amounts)
    return cheapest, amounts.index(cheapest)


def _book(page: Page, site: str, index: int) -> None:
    """Book the ``index``-th result on the results page of ``site``."""
    if site == "SkyFare":
        _click(page, page.locator(".result .select").nth(index))
        _click(page, page.locator("#review-confirm"))
        page.locator("#review-title", has_text="booked").wait_for(timeout=_WAIT_MS)
    else:
        _click(page, page.locator("#rows .book").nth(index))
        _click(page, page.locator("#confirm .pay"))
        page.locator("#confirm", has_text="Booking confirmed").wait_for(timeout=_WAIT_MS)


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
