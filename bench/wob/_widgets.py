"""Solvers for widget MiniWoB++ tasks (see :mod:`wob.solvers`): jQuery UI autocompletes,
sliders, date pickers, menus, sortable lists and the like, worked with real input only."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from wob._forms import click, quoted

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

__all__ = ["SOLVERS"]


def exact(text: str) -> re.Pattern[str]:
    """A pattern matching ``text`` as an element's whole (trimmed) text."""
    return re.compile(f"^\\s*{re.escape(text)}\\s*$")


def centre(target: Locator) -> tuple[float, float]:
    """The centre of ``target`` on the screen (scrolled into view first)."""
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    if box is None:
        raise AssertionError(f"{target} has no box")
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def hover(page: Page, target: Locator) -> None:
    """Move the mouse onto the centre of ``target``, a few steps at a time."""
    page.mouse.move(*centre(target), steps=5)


def settled_click(page: Page, target: Locator) -> None:
    """Hover ``target``, wait until it is what the mouse is over, then click.

    For icons whose ``:hover`` style swaps in an image that still has to load: while it loads
    the icon is not hit, so an immediate click would land on its parent."""
    x, y = centre(target)
    page.mouse.move(x, y, steps=3)
    page.wait_for_function("([e, x, y]) => document.elementFromPoint(x, y) === e", arg=[target.element_handle(), x, y])
    page.mouse.click(x, y)


def drag(page: Page, source: Locator, *points: tuple[float, float]) -> None:
    """Press on ``source``'s centre, move in small steps through ``points``, release at the last."""
    x, y = centre(source)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 3, steps=2)  # past the widget's drag threshold
    for tx, ty in points:
        page.mouse.move(tx, ty, steps=max(3, int(abs(tx - x) + abs(ty - y)) // 4))
        x, y = tx, ty
    page.mouse.up()


def submit(page: Page) -> None:
    """Click the task's Submit button."""
    click(page, page.locator("#subbtn"))


def use_autocomplete(page: Page) -> None:
    """Type the start, wait for the suggestion menu and click the item with the asked ending."""
    start, *end = quoted(page)
    page.locator("#tags").press_sequentially(start, delay=80)
    items = page.locator("ul.ui-autocomplete li")
    items.first.wait_for()
    suffix = end[0] if end else ""
    click(page, items.filter(has_text=re.compile(f"{re.escape(suffix)}\\s*$")).first)
    submit(page)


def set_slider(page: Page, slider: Locator, shown: Locator, value: int) -> None:
    """Focus a jQuery UI slider's handle with a click, then step it to ``value`` with the arrow
    keys (Right/Up raise it, Left/Down lower it, whatever its orientation), reading ``shown``."""
    click(page, slider.locator(".ui-slider-handle"))
    steps = value - int(shown.inner_text())
    for _ in range(abs(steps)):
        page.keyboard.press("ArrowRight" if steps > 0 else "ArrowLeft")


def use_slider(page: Page) -> None:
    """Set the slider to the asked number and Submit."""
    value = int(re.search(r"Select (-?\d+)", page.locator("#query").inner_text())[1])
    set_slider(page, page.locator("#slider"), page.locator("#val"), value)
    submit(page)


def use_slider_2(page: Page) -> None:
    """Set the three sliders to the asked combination and Submit."""
    combination = re.search(r"\[([\d,]+)\]", page.locator("#query").inner_text())[1].split(",")
    for nth, value in enumerate(combination, 1):
        set_slider(page, page.locator(f"#slider-{nth}"), page.locator(f"#val-{nth}"), int(value))
    submit(page)


def choose_date(page: Page) -> None:
    """Open the date picker, page to the asked month with Prev/Next and click the day."""
    wanted = datetime.datetime.strptime(
        re.search(r"\d\d/\d\d/\d{4}", page.locator("#query").inner_text())[0], "%m/%d/%Y"
    ).date()
    click(page, page.locator("#datepicker"))
    picker = page.locator("#ui-datepicker-div")
    title = picker.locator(".ui-datepicker-title")
    title.wait_for()
    while True:
        shown = datetime.datetime.strptime(" ".join(title.inner_text().split()), "%B %Y").date()
        if (shown.year, shown.month) == (wanted.year, wanted.month):
            break
        before = title.inner_text()
        click(page, picker.locator(".ui-datepicker-next" if shown < wanted else ".ui-datepicker-prev"))
        picker.locator(".ui-datepicker-title", has_not_text=before).wait_for()
    click(page, picker.locator("td a").filter(has_text=exact(str(wanted.day))))
    picker.wait_for(state="hidden")  # it fades out over the Submit button
    submit(page)


def sortable_texts(page: Page) -> list[str]:
    """The texts of the sortable list's items, top to bottom."""
    return [" ".join(t.split()) for t in page.locator("#sortable li").all_inner_texts()]


def move_item(page: Page, source: int, target: int) -> None:
    """Drag the sortable list's item at ``source`` onto the slot at ``target`` (0-based).

    jQuery UI's sortable moves its placeholder past an item once the pointer crosses that item's
    middle in the drag's direction, so the drop point is a quarter height beyond the middle."""
    items = page.locator("#sortable li")
    x, y = centre(items.nth(target))
    height = items.nth(target).bounding_box()["height"]
    drag(page, items.nth(source), (x, y + (height / 4 if target > source else -height / 4)))


def drag_items(page: Page) -> None:
    """Drag the named item to the described position of the list."""
    match = re.match(
        r"Drag (.+?) (to the top|to the bottom|down by one|up by one|to the (\d))", page.locator("#query").inner_text()
    )
    name, where, nth = match.groups()
    names = sortable_texts(page)
    at = names.index(name)
    to = {"to the top": 0, "to the bottom": len(names) - 1, "down by one": at + 1, "up by one": at - 1}.get(where)
    move_item(page, at, int(nth) - 1 if to is None else to)


GRID_PLACES = {
    "top left": 0,
    "top center": 1,
    "top right": 2,
    "center left": 3,
    "center": 4,
    "center right": 5,
    "bottom left": 6,
    "bottom center": 7,
    "bottom right": 8,
}
GRID_MOVES = {"up by one": -3, "down by one": 3, "left by one": -1, "right by one": 1}


def drag_items_grid(page: Page) -> None:
    """Drag the named tile of the 3x3 sortable grid to the described cell.

    The grid is a floating sortable: its placeholder moves past a tile once the pointer crosses
    that tile's middle going right (or left), so the drag ends with a short sideways move."""
    name, where = re.match(r"Drag (.+?) (?:to the )?(.+)\.$", page.locator("#query").inner_text().strip()).groups()
    at = sortable_texts(page).index(name)
    to = GRID_PLACES[where] if where in GRID_PLACES else at + GRID_MOVES[where]
    tiles = page.locator("#sortable li")
    x, y = centre(tiles.nth(to))
    side = tiles.nth(to).bounding_box()["width"] / 4 * (1 if to > at else -1)
    drag(page, tiles.nth(at), (x - side, y), (x + side, y))


def drag_sort_numbers(page: Page) -> None:
    """Selection sort by dragging: bring the smallest remaining number to each slot in turn."""
    for slot in range(len(sortable_texts(page))):
        numbers = [int(t) for t in sortable_texts(page)]
        smallest = numbers.index(min(numbers[slot:]), slot)
        if smallest != slot:
            move_item(page, smallest, slot)
    submit(page)


def menu_item(scope: Locator, name: str) -> Locator:
    """The visible jQuery UI menu entry named ``name`` under ``scope``."""
    return scope.locator(".ui-menu-item-wrapper:visible").filter(has_text=exact(name)).first


def click_menu(page: Page) -> None:
    """Hover down the menu path, each submenu opening under the mouse, and click the leaf."""
    *path, leaf = page.locator("#query").inner_text().removeprefix("Select ").strip().split(">")
    for name in path:
        hover(page, menu_item(page.locator("#menu"), name))
    click(page, menu_item(page.locator("#menu"), leaf))


def click_menu_2(page: Page) -> None:
    """Open the menu with its button, hover Playback if the item is in that submenu, click it."""
    icon = page.locator("#query .ui-icon")
    if icon.count():
        shape = next(c for c in icon.get_attribute("class").split() if c.startswith("ui-icon-"))
        entry = page.locator(f"#menu .ui-menu-item-wrapper:has(.{shape})")
    else:
        entry = page.locator("#menu .ui-menu-item-wrapper").filter(has_text=exact(quoted(page)[1]))
    click(page, page.locator("#open-menu"))
    if not entry.is_visible():
        hover(page, page.locator("#menu .ui-menu-item-wrapper").filter(has_text=exact("Playback")))
    click(page, entry)


def navigate_tree(page: Page) -> None:
    """Open folders one by one until an entry with the asked name shows, then click it.

    The tree opens a folder as the click's handler runs (no animation), so nothing to wait for."""
    (name,) = quoted(page)
    shown = page.locator("#tree span:visible").filter(has_text=exact(name))
    while not shown.count():
        click(page, page.locator("#tree li.expandable:visible > span.folder").first)
    click(page, shown.first)


def search_engine(page: Page) -> None:
    """Search for the name, page to the result's page of three and click the result."""
    name = quoted(page)[0]
    nth = int(re.search(r"(\d+)(?:st|nd|rd|th) search result", page.locator("#query").inner_text())[1])
    page.locator("#search-text").press_sequentially(name, delay=30)
    click(page, page.locator("#search"))
    number = str((nth - 1) // 3 + 1)
    if number != "1":
        click(page, page.locator("#pagination li a").filter(has_text=exact(number)))
    page.locator("#pagination li.active").filter(has_text=exact(number)).wait_for()
    click(page, page.locator("#page-content a.search-title").nth((nth - 1) % 3))


def email_thread(page: Page, sender: str) -> Locator:
    """The inbox row of the email from ``sender``."""
    return page.locator("#main .email-thread").filter(has=page.locator(".email-sender", has_text=exact(sender))).first


def forward_email(page: Page, sender: str, to: str) -> None:
    """Open ``sender``'s email, forward it and send it to ``to`` (the body as the page filled it)."""
    click(page, email_thread(page, sender))
    click(page, page.locator("#email .email-forward"))
    page.locator("#forward .forward-sender").press_sequentially(to, delay=30)
    click(page, page.locator("#send-forward"))


def email_inbox(page: Page) -> None:
    """Reply to, forward, delete or star the named sender's email, as the instruction says."""
    query = page.locator("#query").inner_text()
    sender = re.search(r"email by (\w+)", query)[1]
    if "reply" in query:
        click(page, email_thread(page, sender))
        click(page, page.locator("#email .email-reply"))
        page.locator("#reply-text").press_sequentially(quoted(page)[0], delay=30)
        click(page, page.locator("#send-reply"))
    elif "forward" in query:
        forward_email(page, sender, re.search(r"forward that email to (\w+)", query)[1])
    else:
        icon = "trash" if "trash icon" in query else "star"
        click(page, email_thread(page, sender).locator(f".email-actions .{icon}"))


def email_inbox_forward_nl(page: Page) -> None:
    """Forward one sender's email to another; the phrasing varies, the sender follows "by"/"from"."""
    query = page.locator("#query").inner_text()
    sender = next(m[0] or m[1] for m in re.findall(r"(?:by|from|Get) (\w+)|(\w+) (?:sent|wants his)", query))
    senders = {" ".join(t.split()) for t in page.locator("#main .email-sender").all_inner_texts()}
    others = [n for n in re.findall(r"\w+", query) if n in senders and n != sender]
    forward_email(page, sender, others[0] if others else sender)


def posts_by(page: Page, user: str) -> Locator:
    """The posts whose @username is ``user``."""
    return page.locator("#area .media").filter(has=page.locator(".username", has_text=exact(user)))


def social_media(page: Page) -> None:
    """Click the named button of the user's post: an icon, or an entry of its "more" menu."""
    user = page.locator("#query .bold").first.inner_text().strip()
    (label,) = quoted(page)
    post = posts_by(page, user).first
    if label in ("Reply", "Retweet", "Like"):
        settled_click(page, post.locator(f".{label.lower()}"))
    else:
        settled_click(page, post.locator(".more"))
        click(page, post.locator("ul li").filter(has_text=re.compile(f"^{re.escape(label)}")))


def social_media_some(page: Page) -> None:
    """Click the named icon on the asked number of the user's posts, then Submit."""
    label, amount, user = (b.strip() for b in page.locator("#query .bold").all_inner_texts())
    posts = posts_by(page, user)
    for nth in range(int(amount)):
        settled_click(page, posts.nth(nth).locator(f".{label.lower()}"))
    click(page, page.locator("#submitRow button"))


def phone_book(page: Page) -> None:
    """Page through the contacts with ">" until the person shows, then click the asked detail."""
    person, detail = re.match(
        r"Find (.+) in the contact book and click on their (\w+)", page.locator("#query").inner_text()
    ).groups()
    name = page.locator("#contact .name")
    while name.inner_text().strip() != person:
        before = name.inner_text().strip()
        click(page, page.locator("#pagination li.next a"))
        page.locator("#contact .name", has_not_text=before).wait_for()
    click(page, page.locator(f"#contact a.{detail}"))


def click_scroll_list(page: Page) -> None:
    """Click the first asked option of the list box, Ctrl+click the other, then Submit."""
    wanted = re.match(r"Select (.+) from the scroll list", page.locator("#query").inner_text())[1]
    options = [t.strip() for t in page.locator("#options option").all_inner_texts()]
    first = next(o for o in options if wanted == o or (wanted.startswith(o + ", ") and wanted[len(o) + 2 :] in options))
    picks = [first, wanted[len(first) + 2 :]] if wanted != first else [first]
    click(page, page.locator("#options option").nth(options.index(picks[0])))
    for text in picks[1:]:
        page.keyboard.down("Control")
        click(page, page.locator("#options option").nth(options.index(text)))
        page.keyboard.up("Control")
    click(page, page.locator("#area button").filter(has_text="Submit"))


def copy_paste(page: Page) -> None:
    """Select all of the textarea's text, copy it, paste it into the text box, Submit."""
    click(page, page.locator("#to-copy"))
    page.keyboard.press("Control+A")
    page.keyboard.press("Control+C")
    click(page, page.locator("#answer-input"))
    page.keyboard.press("Control+V")
    submit(page)


def click_widget(page: Page) -> None:
    """Click a widget of the asked kind."""
    (kind,) = quoted(page)
    click(page, page.locator(f"#area [data-type={kind}]").first)


COLOURS = {
    "red": (255, 0, 0),
    "orange": (255, 165, 0),
    "yellow": (255, 255, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "purple": (128, 0, 128),
}
"""What a person has in mind for each colour name, to pick the nearest swatch."""

STYLE_KEYS = {"bold": "Control+B", "italics": "Control+I", "underlined": "Control+U"}


def swatch(page: Page, colour: str) -> Locator:
    """The colour picker's swatch that looks most like ``colour``."""
    swatches = page.locator(".ql-color .ql-picker-item[style]")
    shades = [
        tuple(map(int, re.findall(r"\d+", style)))
        for style in swatches.evaluate_all("es => es.map(e => e.style.backgroundColor)")
    ]
    wanted = COLOURS[colour]
    nearest = min(range(len(shades)), key=lambda i: sum((a - b) ** 2 for a, b in zip(shades[i], wanted, strict=True)))
    return swatches.nth(nearest)


def text_editor(page: Page) -> None:
    """Select the word (arrow keys with Shift) or everything (Ctrl+A), then style it.

    Styles go by shortcut: Quill learns of a new selection only on a timer after the
    ``selectionchange`` event, and a toolbar click before that restores the stale caret and styles
    nothing. So before reaching for the colour picker the person pauses a moment, as people do."""
    target, look = (b.strip() for b in page.locator("#query .bold").all_inner_texts())
    click(page, page.locator("#editor .ql-editor"))
    if target == "everything":
        page.keyboard.press("Control+A")
    else:
        page.keyboard.press("Control+Home")
        text = page.locator("#editor .ql-editor").inner_text()
        for _ in range(re.search(f"(?<!\\S){re.escape(target)}(?!\\S)", text).start()):
            page.keyboard.press("ArrowRight")
        for _ in target:
            page.keyboard.press("Shift+ArrowRight")
    if look in STYLE_KEYS:
        page.keyboard.press(STYLE_KEYS[look])
    else:
        page.wait_for_timeout(300)
        click(page, page.locator(".ql-color .ql-picker-label"))
        click(page, swatch(page, look))
    submit(page)


SOLVERS: dict[str, Callable[[Page], None]] = {
    "use-autocomplete": use_autocomplete,
    "use-slider": use_slider,
    "choose-date-easy": choose_date,
    "choose-date": choose_date,
    "drag-items": drag_items,
    "drag-sort-numbers": drag_sort_numbers,
    "drag-items-grid": drag_items_grid,
    "use-slider-2": use_slider_2,
    "click-menu": click_menu,
    "click-menu-2": click_menu_2,
    "navigate-tree": navigate_tree,
    "search-engine": search_engine,
    "email-inbox": email_inbox,
    "email-inbox-delete": email_inbox,
    "email-inbox-forward-nl": email_inbox_forward_nl,
    "social-media": social_media,
    "social-media-some": social_media_some,
    "phone-book": phone_book,
    "click-scroll-list": click_scroll_list,
    "copy-paste": copy_paste,
    "click-widget": click_widget,
    "text-editor": text_editor,
}
