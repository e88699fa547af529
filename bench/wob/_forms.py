"""Solvers for form-like MiniWoB++ tasks (see :mod:`wob.solvers`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from playwright.sync_api import expect

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

__all__ = ["SOLVERS"]

ORDINALS = {"1st": 0, "2nd": 1, "3rd": 2}


# Where a person aims at an element: its centre when nothing covers it, else the point of its
# uncovered part farthest from any edge of that part (found on a grid of elementFromPoint probes).
AIM = """el => {
  const r = el.getBoundingClientRect();
  const at = (x, y) => el.contains(document.elementFromPoint(x, y));
  if (at(r.left + r.width / 2, r.top + r.height / 2)) return [r.left + r.width / 2, r.top + r.height / 2];
  const step = Math.max(1, Math.round(Math.max(r.width, r.height) / 60));
  const nx = Math.floor(r.width / step), ny = Math.floor(r.height / step);
  const d = [];
  for (let j = 0; j < ny; j++) {
    d.push([]);
    for (let i = 0; i < nx; i++) d[j].push(at(r.left + (i + 0.5) * step, r.top + (j + 0.5) * step) ? Infinity : 0);
  }
  const get = (i, j) => (i < 0 || j < 0 || i >= nx || j >= ny ? 0 : d[j][i]);
  for (const sign of [1, -1]) {
    for (let jj = 0; jj < ny; jj++) {
      for (let ii = 0; ii < nx; ii++) {
        const i = sign > 0 ? ii : nx - 1 - ii, j = sign > 0 ? jj : ny - 1 - jj;
        const near = Math.min(get(i - sign, j), get(i - 1, j - sign), get(i, j - sign), get(i + 1, j - sign));
        d[j][i] = Math.min(d[j][i], near + 1);
      }
    }
  }
  let best = null, depth = 0;
  for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) if (d[j][i] > depth) [best, depth] = [[i, j], d[j][i]];
  return best && [r.left + (best[0] + 0.5) * step, r.top + (best[1] + 0.5) * step];
}"""


def click(page: Page, target: Locator) -> None:
    """A person's click: the mouse at the centre of ``target`` (scrolled into view first), or in the
    middle of its visible part when something else covers the centre."""
    target.scroll_into_view_if_needed()
    point = target.evaluate(AIM)
    if point is None:
        raise AssertionError(f"{target} is covered or has no box to click")
    page.mouse.click(*point)


def type_into(page: Page, field: Locator, text: str) -> None:
    """Click ``field`` and type ``text`` with the keyboard."""
    click(page, field)
    page.keyboard.type(text)


def query(page: Page) -> str:
    """The instruction, whitespace folded."""
    return " ".join(page.locator("#query").inner_text().split())


def quoted(page: Page) -> list[str]:
    """The quoted phrases of the instruction, in order."""
    return re.findall(r'"([^"]*)"', page.locator("#query").inner_text())


def parse(page: Page, pattern: str) -> tuple[str, ...]:
    """The groups of ``pattern`` matched against the whole instruction."""
    found = re.fullmatch(pattern, query(page))
    if found is None:
        raise AssertionError(f"unexpected instruction {query(page)!r}")
    return found.groups()


def exact(text: str) -> re.Pattern[str]:
    """A ``has_text`` pattern for exactly ``text``."""
    return re.compile(f"^{re.escape(text)}$")


def named(scope: Locator, text: str) -> Locator:
    """The first element of ``scope`` whose text is exactly ``text``."""
    return scope.filter(has_text=exact(text)).first


def settle(page: Page) -> None:
    """Wait until no jQuery animation (an accordion sliding, a dialog fading) is running."""
    page.wait_for_function("() => jQuery(':animated').length === 0")


def submit(page: Page) -> None:
    click(page, page.locator("#subbtn"))


def click_button(page: Page) -> None:
    (name,) = quoted(page)
    click(page, named(page.locator("#area button"), name))


def click_button_sequence(page: Page) -> None:
    for name in parse(page, r"Click button (\w+), then click button (\w+)\."):
        click(page, named(page.locator("#area button"), name))


def click_link(page: Page) -> None:
    (text,) = quoted(page)
    click(page, named(page.locator("#area .alink"), text))


def click_checkboxes(page: Page) -> None:
    (names,) = parse(page, r"Select (.*) and click Submit\.")
    wanted = set() if names == "nothing" else set(names.split(", "))
    for label in page.locator("#area label").all():
        if label.inner_text().strip() in wanted:
            click(page, label.locator("input"))
    submit(page)


def click_option(page: Page) -> None:
    (name,) = parse(page, r"Select (.*) and click Submit\.")
    click(page, named(page.locator("#area label"), name).locator("input"))
    submit(page)


def click_dialog(page: Page) -> None:
    click(page, page.locator(".ui-dialog-titlebar-close"))


def click_dialog_2(page: Page) -> None:
    (name,) = quoted(page)
    if name == "x":
        click_dialog(page)
    else:
        click(page, named(page.locator(".ui-dialog-buttonpane button"), name))


def click_tab(page: Page) -> None:
    (tab,) = parse(page, r"Click on (Tab #\d)\.")
    click(page, named(page.locator("#area ul a"), tab))


def find_and_click(page: Page, openers: Locator, text: str) -> None:
    """Open ``openers`` (tabs, accordion headers) in turn until the link ``text`` shows, then click it."""
    link = named(page.locator("#area .alink").filter(visible=True), text)
    for opener in openers.all():
        if link.count():
            break
        click(page, opener)
        settle(page)
    click(page, link)


def click_tab_2(page: Page) -> None:
    (text,) = quoted(page)
    find_and_click(page, page.locator("#area ul a"), text)


def click_collapsible(page: Page) -> None:
    click(page, page.locator("#area h3"))
    settle(page)
    submit(page)


def click_collapsible_2(page: Page) -> None:
    (text,) = quoted(page)
    find_and_click(page, page.locator("#area h3"), text)


def enter_text(page: Page) -> None:
    (text,) = quoted(page)
    type_into(page, page.locator("#tt"), text)
    submit(page)


def enter_text_2(page: Page) -> None:
    text, case = parse(page, r'Type "(.*)" in all (upper|lower) case letters in the text input and press Submit\.')
    type_into(page, page.locator("#tt"), text.upper() if case == "upper" else text.lower())
    submit(page)


def enter_password(page: Page) -> None:
    (password,) = quoted(page)
    for field in ("#password", "#verify"):
        type_into(page, page.locator(field), password)
    submit(page)


def type_in_picker(page: Page, field: Locator, keys: str, value: str) -> None:
    """Type ``keys`` into a date/time input from its first part (en-US order); check it reads ``value``."""
    click(page, field)
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    page.keyboard.type(keys)
    expect(field).to_have_value(value)


def enter_date(page: Page) -> None:
    month, day, year = parse(page, r"Enter (\d\d)/(\d\d)/(\d{4}) as the date and hit submit\.")
    type_in_picker(page, page.locator("#tt"), month + day + year, f"{year}-{month}-{day}")
    submit(page)


def enter_time(page: Page) -> None:
    hour, minute, half = parse(page, r"Enter (\d+):(\d\d) ([AP])M as the time and press submit\.")
    hour24 = int(hour) % 12 + (12 if half == "P" else 0)
    type_in_picker(page, page.locator("#tt"), f"{int(hour):02}{minute}{half}", f"{hour24:02}:{minute}")
    submit(page)


def log_in(page: Page) -> None:
    """Fill username and password; a popup that focusing a field raises is dismissed with Cancel."""
    for field, text in zip(("#username", "#password"), quoted(page), strict=True):
        click(page, page.locator(field))
        if page.locator("#popup").count():
            click(page, page.locator("#popup-cancel"))
            click(page, page.locator(field))
        page.keyboard.type(text)
    submit(page)


def focus_text(page: Page) -> None:
    click(page, page.locator("#tt"))


def focus_text_2(page: Page) -> None:
    (nth,) = parse(page, r"Focus into the (\w+) input textbox\.")
    click(page, page.locator("#area input").nth(ORDINALS[nth]))


def form_sequence(page: Page) -> None:
    value, nth = parse(page, r"Select (-?\d+) with the slider, click the (\w+) checkbox, then hit Submit\.")
    click(page, page.locator("#slider .ui-slider-handle"))
    shown = page.locator("#val")
    steps = int(value) - int(shown.inner_text())
    for _ in range(abs(steps)):
        page.keyboard.press("ArrowRight" if steps > 0 else "ArrowLeft")
    expect(shown).to_have_text(value)
    click(page, page.locator("#area input[type=checkbox]").nth(ORDINALS[nth]))
    submit(page)


def form_sequence_2(page: Page) -> None:
    radio, number, box = parse(
        page, r'Check the (\w+) radio button and enter the number "(-?\d+)" into the (\w+) textbox\.'
    )
    click(page, page.locator("#area input[type=radio]").nth(ORDINALS[radio]))
    type_into(page, page.locator("#area input[type=text]").nth(ORDINALS[box]), number)
    submit(page)


def choose_list(page: Page) -> None:
    """Open the native list with a click, type the item's name (the list's type-ahead) and Enter."""
    (item,) = parse(page, r"Select (.*) from the list and click Submit\.")
    options = page.locator("#options")
    click(page, options)
    page.keyboard.type(item)
    page.keyboard.press("Enter")
    expect(options.locator("option:checked")).to_have_text(item)
    click(page, page.locator("#area button"))


def use_spinner(page: Page) -> None:
    (target,) = parse(page, r"Select (-?\d+) with the spinner and hit Submit\.")
    spinner = page.locator("#spinner")
    steps = int(target) - int(spinner.input_value())
    for _ in range(abs(steps)):
        click(page, page.locator(".ui-spinner-up" if steps > 0 else ".ui-spinner-down"))
    expect(spinner).to_have_value(target)
    submit(page)


def movie_search(page: Page) -> None:
    """Fill genre, director and year in whichever layout and order the form has, then submit."""
    genre, director, year = page.locator("#query b").all_inner_texts()
    answers = {"Genre": genre, "Director": director, "Year": year, "Date": year}
    for row in page.locator("#area").locator("p, .row, tr, .field, .ui-entry").all():
        label = row.inner_text()
        (text,) = (answer for key, answer in answers.items() if key in label)
        type_into(page, row.locator("input"), text)
    click(page, page.locator("#area button, #area .final, #area .ui-submit"))


def read_table(page: Page) -> None:
    key = page.locator("#query .bold").inner_text()
    row = page.locator("#tab tr").filter(has=page.locator("td").first.filter(has_text=exact(key)))
    type_into(page, page.locator("#tt"), row.locator("td").nth(1).inner_text())
    submit(page)


def sign_agreement(page: Page) -> None:
    if query(page) == "Click the cancel button.":
        click(page, page.locator("#cancel"))
        return
    name, button = quoted(page)
    field = page.locator("#name")
    page.locator("#text-area").hover()
    for _ in range(40):
        if field.is_enabled():
            break
        page.mouse.wheel(0, 200)
        page.wait_for_timeout(100)
    else:
        raise AssertionError("scrolling the agreement did not enable its name field")
    type_into(page, field, name)
    click(page, named(page.locator("#area button"), button))


SOLVERS: dict[str, Callable[[Page], None]] = {
    "click-button": click_button,
    "click-button-sequence": click_button_sequence,
    "click-link": click_link,
    "click-checkboxes": click_checkboxes,
    "click-checkboxes-large": click_checkboxes,
    "click-option": click_option,
    "click-dialog": click_dialog,
    "click-dialog-2": click_dialog_2,
    "click-tab": click_tab,
    "click-tab-2": click_tab_2,
    "click-collapsible": click_collapsible,
    "click-collapsible-2": click_collapsible_2,
    "enter-text": enter_text,
    "enter-text-2": enter_text_2,
    "enter-text-dynamic": enter_text,
    "enter-password": enter_password,
    "enter-date": enter_date,
    "enter-time": enter_time,
    "login-user": log_in,
    "login-user-popup": log_in,
    "focus-text": focus_text,
    "focus-text-2": focus_text_2,
    "form-sequence": form_sequence,
    "form-sequence-2": form_sequence_2,
    "choose-list": choose_list,
    "use-spinner": use_spinner,
    "multi-orderings": movie_search,
    "multi-layouts": movie_search,
    "read-table": read_table,
    "sign-agreement": sign_agreement,
}
