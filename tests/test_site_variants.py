"""The bundled sites' page variants in real Chromium, and the goal values each page states.

``?variant=mutated`` renames every id and class, reorders what has no meaningful order and
puts a cookie banner on top; ``ambiguous`` puts a lookalike form before the real one;
``removed`` leaves out the control that completes the task. A replay of a demonstration
recorded on the plain page is tested against these; here they are held to their promise:
the same world and the same visible texts, the task still doable (or, for ``removed``, not).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from traj.errors import BrowserError
from traj.sites import SITES, VARIANTS, SiteServer, run_script

SEED = 5

PARAMS = {
    "calendar": {"day", "start", "end", "title"},
    "flights": {"origin", "destination", "date", "date_long"},
    "expense": {"employee", "date", "category", "amount", "description"},
    "price": {"threshold", "note"},
    "cross_app": {"organizer", "day", "start", "end", "title"},
}
"""The keys of ``window.traj.params`` per task."""

KNOWN_IDS = {
    "calendar": ["grid", "create", "event-title", "event-save"],
    "flights": ["sites", "trip", "booking"],
    "expense": ["report", "employee", "amount", "submit"],
    "price": ["price", "note", "notify", "alert-card"],
    "cross_app": ["messages", "reader", "search"],
}
"""A few ids of each start page that the mutated variant must rename."""

STYLED = {
    "calendar": ("button", "+ Create"),
    "flights": ("link", "Search SkyFare"),
    "expense": ("button", "Submit report"),
    "price": ("button", "Notify me"),
    "cross_app": ("link", "Mail"),
}
"""A control per start page whose look comes from a class or id rule (so the stylesheets must follow the rename)."""


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh context (empty localStorage); any script error or console error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    new_page = context.new_page()
    errors: list[str] = []
    new_page.on("pageerror", lambda exc: errors.append(str(exc)))
    new_page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield new_page
    context.close()
    assert not errors, f"errors on the page: {errors}"


@pytest.fixture
def entered(page: Any) -> dict[str, str]:
    """What ends up in each field the page's user typed into or chose from: page path + field name -> value.

    A select reports its chosen option's text, as the recorder does.
    """
    values: dict[str, str] = {}

    def remember(key: str, value: str) -> None:
        values[key] = value

    page.context.expose_function("__trajEntered", remember)
    page.context.add_init_script(
        """
        for (const type of ["input", "change"]) {
          document.addEventListener(type, (event) => {
            const field = event.target;
            if (!["INPUT", "TEXTAREA", "SELECT"].includes(field.tagName) || field.type === "hidden") return;
            const value = field.tagName === "SELECT"
              ? (field.selectedOptions[0] ? field.selectedOptions[0].text.trim() : "") : field.value;
            window.__trajEntered(location.pathname + " " + (field.name || field.id), value);
          }, true);
        }
        """
    )
    return values


def goto(page: Any, sites_server: SiteServer, name: str, variant: str | None = None, path: str | None = None) -> None:
    """Open the start page of task ``name``, or ``path`` with the same query added (``/calendar/?from=inbox``)."""
    url = SITES[name].start_url(sites_server.url, SEED, fast=True, variant=variant)
    if path is not None:
        where, _, extra = path.partition("?")
        url = sites_server.url + where + "?" + url.split("?", 1)[1] + (f"&{extra}" if extra else "")
    page.goto(url)
    page.wait_for_function("() => window.traj !== undefined")


def traj(page: Any) -> dict[str, Any]:
    return page.evaluate("({task: traj.task, goal: traj.goal, params: traj.params, variant: traj.variant})")


def check(page: Any) -> dict[str, Any]:
    return page.evaluate("window.traj.check()")


def organizers_email(page: Any) -> str:
    """Open the cross-app organizer's email in the inbox and return what it says."""
    organizer = traj(page)["params"]["organizer"]
    messages = page.get_by_role("region", name="Messages", exact=True)
    messages.get_by_role("button", name=re.compile(f"^Email from {re.escape(organizer)}:")).click()
    reader = page.get_by_role("article", name="Reading pane", exact=True)
    reader.get_by_text("When:").wait_for()
    return reader.inner_text()


def open_variant_in_the_same_world(page: Any, sites_server: SiteServer, name: str, variant: str) -> dict[str, Any]:
    """Open the plain start page, then the ``variant`` one; both must state the same goal and params.

    Each params value must be a non-empty string the goal states (for the cross-app task the
    goal names the organizer, whose email, opened here, states the rest). Returns the variant's window.traj.
    """
    goto(page, sites_server, name)
    plain = traj(page)
    goto(page, sites_server, name, variant)
    changed = traj(page)
    assert changed["variant"] == variant and plain["variant"] is None
    assert (changed["task"], changed["goal"], changed["params"]) == (plain["task"], plain["goal"], plain["params"])
    params = changed["params"]
    assert set(params) == PARAMS[name]
    assert all(isinstance(value, str) and value for value in params.values()), params
    stated = changed["goal"] if name != "cross_app" else changed["goal"] + "\n" + organizers_email(page)
    for key, value in params.items():
        assert value in stated, (key, value, stated)
    return changed


# ----------------------------------------------------------------------------- params and the catalogue


def test_params_differ_between_seeds(sites_server: SiteServer, page: Any) -> None:
    for name in SITES:
        seen = []
        for seed in (SEED, SEED + 1):
            page.goto(SITES[name].start_url(sites_server.url, seed))
            seen.append(page.evaluate("window.traj.params"))
        assert seen[0] != seen[1], name


def test_start_url_adds_the_variant_and_refuses_unknown_ones() -> None:
    site = SITES["price"]
    assert (
        site.start_url("http://h:1/", 7, fast=True, variant="mutated")
        == "http://h:1/price/?seed=7&fast=1&variant=mutated"
    )
    assert site.start_url("http://h:1", 7, variant="removed") == "http://h:1/price/?seed=7&variant=removed"
    assert site.start_url("http://h:1", 7, variant=None) == "http://h:1/price/?seed=7"
    assert all(site.start_url("http://h:1", 7, variant=v).endswith(f"&variant={v}") for v in VARIANTS)
    with pytest.raises(ValueError, match="unknown site variant"):
        site.start_url("http://h:1", 7, variant="broken")


# ----------------------------------------------------------------------------- mutated

_MARKUP = """() => {
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const controls = [...document.querySelectorAll("button, a, label, input, select, textarea")].filter(visible);
  return {
    ids: [...document.querySelectorAll("[id]")].map((el) => el.id),
    classes: [...new Set([...document.querySelectorAll("[class]")].flatMap((el) => [...el.classList]))],
    buttons: [...document.querySelectorAll("button")].filter(visible).map((b) => b.innerText.trim()),
    labels: [...document.querySelectorAll("label")].filter(visible).map((l) => l.innerText.trim()),
    placeholders: [...document.querySelectorAll("[placeholder]")].map((el) => el.placeholder),
    order: controls.map((el) => el.tagName + ":" + (el.innerText || el.placeholder || el.name || "").trim()),
  };
}"""


@pytest.mark.parametrize("name", list(SITES))
def test_mutated_renames_every_id_and_class_but_keeps_what_people_see(
    sites_server: SiteServer, page: Any, name: str
) -> None:
    goto(page, sites_server, name)
    plain = page.evaluate(_MARKUP)
    role, label = STYLED[name]
    styled = page.get_by_role(role, name=label, exact=True)
    style = "el => [getComputedStyle(el).backgroundColor, getComputedStyle(el).color, getComputedStyle(el).padding]"
    plain_style = styled.evaluate(style)
    goto(page, sites_server, name, "mutated")
    mutated = page.evaluate(_MARKUP)

    for known in KNOWN_IDS[name]:
        assert known in plain["ids"] and known not in mutated["ids"], known
    assert not set(plain["ids"]) & set(mutated["ids"])
    assert not set(plain["classes"]) & set(mutated["classes"])
    assert sorted(mutated["buttons"]) == sorted([*plain["buttons"], "Accept", "Dismiss"])
    assert sorted(mutated["labels"]) == sorted(plain["labels"])
    assert sorted(mutated["placeholders"]) == sorted(plain["placeholders"])
    banner = [entry for entry in mutated["order"] if entry not in ("BUTTON:Accept", "BUTTON:Dismiss")]
    assert banner != plain["order"] and sorted(banner) == sorted(plain["order"]), "controls are reordered, not changed"
    # The renamed stylesheets still style the app; the banner comes first and pushes it down until dismissed.
    assert styled.evaluate(style) == plain_style
    assert page.evaluate("document.body.firstElementChild.getAttribute('aria-label')") == "Cookie notice"
    below_banner = styled.bounding_box()["y"]
    page.get_by_role("region", name="Cookie notice").get_by_role("button", name="Dismiss").click()
    assert page.get_by_role("region", name="Cookie notice").count() == 0
    assert styled.bounding_box()["y"] < below_banner - 20

    open_variant_in_the_same_world(page, sites_server, name, "mutated")


@pytest.mark.parametrize("name", list(SITES))
def test_scripted_demo_succeeds_on_mutated_and_types_exactly_the_params(
    sites_server: SiteServer, page: Any, entered: dict[str, str], name: str
) -> None:
    run_script(name, page, sites_server.url, SEED, fast=True, variant="mutated")
    assert check(page)["success"], check(page)
    assert "variant=mutated" in page.url, "links and forms keep the variant"
    params = set(traj(page)["params"].values())
    assert entered and set(entered.values()) <= params, (entered, params)


# ----------------------------------------------------------------------------- ambiguous

_CONTAINER = """el => {
  const box = el.parentElement.closest("[aria-label], [aria-labelledby]");
  if (!box) return null;
  const by = box.getAttribute("aria-labelledby");
  return by ? document.getElementById(by).textContent.trim() : box.getAttribute("aria-label");
}"""


def _containers(page: Any, role: str, name: str | re.Pattern[str]) -> list[str]:
    """The named containers of every element with this role and accessible name, hidden ones too, in page order."""
    found = page.get_by_role(role, name=name, exact=True, include_hidden=True)
    return [found.nth(i).evaluate(_CONTAINER) for i in range(found.count())]


def _label_count(page: Any, label: str) -> int:
    return page.get_by_label(label, exact=True).count()


def _use_lookalike(page: Any, name: str, params: dict[str, str]) -> None:
    """Do the task's last step with the right values, but in the lookalike form."""
    if name in ("calendar", "cross_app"):
        form = page.get_by_role("form", name="Quick reminder")
        form.get_by_label("Title", exact=True).fill(params["title"])
        form.get_by_role("button", name="Save", exact=True).click()
        form.get_by_text("Reminder saved").wait_for()
    elif name == "expense":
        form = page.get_by_role("form", name="Report a problem with Ledgerly")
        form.get_by_label("Employee name", exact=True).fill(params["employee"])
        form.get_by_label("Description", exact=True).fill(params["description"])
        form.get_by_role("button", name="Submit report", exact=True).click()
        form.get_by_text("Thanks").wait_for()
    elif name == "price":
        page.wait_for_timeout(600)  # at ten times the speed the price is below the threshold by now
        card = page.get_by_role("region", name="Bundle price alert")
        card.get_by_label("Note for yourself", exact=True).fill(params["note"])
        card.get_by_role("button", name="Notify me", exact=True).click()
        card.get_by_text("bundle gets cheaper").wait_for()
    else:
        form = page.get_by_role("form", name="Flight status")
        form.get_by_label("From", exact=True).fill(params["origin"])
        form.get_by_label("To", exact=True).fill(params["destination"])
        form.get_by_role("button", name="Search flights", exact=True).click()
        form.page.get_by_text("not available for this route").wait_for()


@pytest.mark.parametrize("name", list(SITES))
def test_ambiguous_lookalike_comes_first_does_not_count_and_the_script_finds_the_real_form(
    sites_server: SiteServer, page: Any, name: str
) -> None:
    if name == "flights":
        open_variant_in_the_same_world(page, sites_server, name, "ambiguous")
        goto(page, sites_server, name, "ambiguous", path="/flights/jetdeal/")
        assert _containers(page, "button", "Find deals") == ["Deal alerts", "Find flights"]
        assert _label_count(page, "Flying from") == 2
        goto(page, sites_server, name, "ambiguous", path="/flights/skyfare/")
        assert _containers(page, "button", "Search flights") == ["Flight status", "Flight search"]
        assert _label_count(page, "From") == _label_count(page, "To") == 2
    elif name == "cross_app":
        open_variant_in_the_same_world(page, sites_server, name, "ambiguous")
        organizer = traj(page)["params"]["organizer"]
        assert _containers(page, "button", re.compile(f"^Email from {re.escape(organizer)}:")) == [
            "Snoozed",
            "Messages",
        ]
        page.get_by_role("region", name="Snoozed").get_by_role("button").click()
        assert "snoozed this conversation" in page.get_by_role("article", name="Reading pane").inner_text()
        goto(page, sites_server, name, "ambiguous", path="/calendar/?from=inbox")  # the calendar of the cross-app task
    else:
        open_variant_in_the_same_world(page, sites_server, name, "ambiguous")
    expected = {
        "calendar": ("Save", ["Quick reminder", "New event"], "Title"),
        "cross_app": ("Save", ["Quick reminder", "New event"], "Title"),
        "expense": ("Submit report", ["Report a problem with Ledgerly", "Expense report"], "Employee name"),
        "price": ("Notify me", ["Bundle price alert", "Price alert"], "Note for yourself"),
    }
    if name in expected:
        button, containers, label = expected[name]
        assert _containers(page, "button", button) == containers
        assert _label_count(page, label) == 2

    _use_lookalike(page, name, traj(page)["params"])
    assert check(page)["success"] is False, "the lookalike must not complete the task"

    run_script(name, page, sites_server.url, SEED, fast=True, variant="ambiguous")
    assert check(page)["success"], check(page)


# ----------------------------------------------------------------------------- removed

FINAL = {
    "calendar": "Save",
    "cross_app": "Save",
    "expense": "Submit report",
    "price": "Notify me",
    "flights": re.compile(r"^(Confirm booking|Pay \d+ USD)$"),
}


@pytest.mark.parametrize("name", list(SITES))
def test_removed_final_control_makes_the_task_impossible(sites_server: SiteServer, page: Any, name: str) -> None:
    open_variant_in_the_same_world(page, sites_server, name, "removed")
    with pytest.raises(BrowserError, match="no control to finish the task"):
        run_script(name, page, sites_server.url, SEED, fast=True, variant="removed")
    assert page.get_by_role("button", name=FINAL[name], exact=True, include_hidden=True).count() == 0
    assert "variant=removed" in page.url
    assert check(page)["success"] is False


@pytest.mark.parametrize("variant", [None, "removed"])
def test_enter_in_the_event_dialog_saves_only_with_its_save_button(
    sites_server: SiteServer, page: Any, variant: str | None
) -> None:
    """The disabled button left in place of Save is the form's default button, so Enter saves nothing either."""
    goto(page, sites_server, "calendar", variant)
    params = traj(page)["params"]
    week = page.get_by_role("region", name="Week view")
    week.get_by_role("button", name=f"{params['day']}, {params['start']}", exact=True).click()
    dialog = page.get_by_role("dialog", name="New event")
    dialog.get_by_label("Ends", exact=True).select_option(label=params["end"])
    dialog.get_by_label("Title", exact=True).fill(params["title"])
    dialog.get_by_label("Title", exact=True).press("Enter")
    page.wait_for_timeout(200)
    assert check(page)["success"] is (variant is None)
    assert dialog.is_visible() is (variant == "removed")
    if variant == "removed":
        assert dialog.get_by_role("button", name="Editing disabled").is_disabled()


@pytest.mark.parametrize("variant", [None, "removed"])
def test_enter_in_the_expense_form_submits_only_with_its_submit_button(
    sites_server: SiteServer, page: Any, variant: str | None
) -> None:
    goto(page, sites_server, "expense", variant)
    params = traj(page)["params"]
    form = page.get_by_role("form", name="Expense report")
    for key in ("employee", "date", "amount", "description"):
        form.get_by_label(_EXPENSE_LABELS[key], exact=True).fill(params[key])
    form.get_by_label("Category", exact=True).select_option(label=params["category"])
    form.get_by_label("Employee name", exact=True).press("Enter")
    page.wait_for_timeout(200)
    assert check(page)["success"] is (variant is None)
    assert form.is_visible() is (variant == "removed")
    if variant == "removed":
        assert form.get_by_role("button", name="Submissions closed").is_disabled()


_EXPENSE_LABELS = {
    "employee": "Employee name",
    "date": "Date of expense",
    "amount": "Amount (USD)",
    "description": "Description",
}


# ----------------------------------------------------------------------------- shuffled: layout by seed

_LAYOUT = """() => [...document.querySelectorAll('[id]')].filter((e) => e.closest('form, main, aside, section')
    && !e.closest('[role=list], ul, ol, table, [role=grid]')).map((e) => e.id + '.' + e.className + ':'
    + (e.tagName === 'SELECT' ? [...e.options].map((o) => o.value).join('|') : '')).join(' ')"""
"""Where the page's controls and sections sit (ids, classes, option order), not lists of per-seed content."""


@pytest.mark.parametrize("name", ["expense", "price", "calendar"])
def test_a_seed_varies_values_not_layout_unless_shuffled(sites_server: SiteServer, page: Any, name: str) -> None:
    """Instances of a task differ as a person's do (values and content); the layout varies by seed
    only in the ``shuffled`` variant, whose values are the same as the plain page's."""
    plain, shuffled = set(), set()
    for seed in range(6):
        page.goto(SITES[name].start_url(sites_server.url, seed))
        plain.add(page.evaluate(_LAYOUT))
        params = page.evaluate("window.traj.params")
        page.goto(SITES[name].start_url(sites_server.url, seed, variant="shuffled"))
        shuffled.add(page.evaluate(_LAYOUT))
        assert page.evaluate("window.traj.params") == params
    assert len(plain) == 1, f"{name}: the plain page's layout changed between seeds"
    assert len(shuffled) > 1, f"{name}: the shuffled variant did not vary the layout"
