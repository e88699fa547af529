"""The bundled demo sites in real Chromium: their goals, success predicates and scripted demonstrations."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from traj.errors import TrajError
from traj.sites import SCRIPTS, SITES, STATIC_DIR, SiteServer, run_script, serve_sites
from traj.sites._scripts import _add_event, fill_expense


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh context: empty localStorage, so no earlier test's state leaks in."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    new_page = context.new_page()
    errors: list[str] = []
    new_page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield new_page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def check(page: Any) -> dict[str, Any]:
    return page.evaluate("window.traj.check()")


def goto(page: Any, sites_server: SiteServer, name: str, seed: int, *, fast: bool = False) -> None:
    page.goto(SITES[name].start_url(sites_server.url, seed, fast=fast))
    page.wait_for_function("() => window.traj !== undefined")


# ----------------------------------------------------------------------------- the demonstrations


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(SITES))
def test_scripted_demonstration_completes_the_task(sites_server: SiteServer, page: Any, name: str, seed: int) -> None:
    goto(page, sites_server, name, seed, fast=True)
    assert page.evaluate("window.traj.task") == name
    assert page.evaluate("window.traj.goal")
    before = check(page)
    assert before["success"] is False, before
    assert before["detail"]

    run_script(name, page, sites_server.url, seed, fast=True)

    after = check(page)
    assert after == {"success": True, "detail": after["detail"]}, after


def test_every_site_has_a_script_and_a_start_page() -> None:
    assert set(SCRIPTS) == set(SITES) == {"calendar", "flights", "expense", "price", "cross_app"}
    for site in SITES.values():
        assert (STATIC_DIR / site.path.strip("/") / "index.html").is_file(), site.path
    assert SITES["price"].start_url("http://h:1/", 7, fast=True) == "http://h:1/price/?seed=7&fast=1"
    assert SITES["cross_app"].start_url("http://h:1", 0) == "http://h:1/inbox/?seed=0"


def test_run_script_refuses_an_unknown_task(sites_server: SiteServer, page: Any) -> None:
    with pytest.raises(ValueError, match="unknown demo site"):
        run_script("shopping", page, sites_server.url, 0)


# ----------------------------------------------------------------------------- seeds


def test_seeds_give_different_goals_and_content(sites_server: SiteServer, page: Any) -> None:
    for name in SITES:
        seen = []
        for seed in (0, 1):
            goto(page, sites_server, name, seed)
            seen.append((page.evaluate("window.traj.goal"), page.locator("body").inner_text()))
        assert seen[0][0] != seen[1][0], name
        assert seen[0][1] != seen[1][1], name
        goto(page, sites_server, name, 0)
        assert page.evaluate("window.traj.goal") == seen[0][0], f"{name}: the same seed must give the same goal"


def test_state_is_kept_per_seed(sites_server: SiteServer, page: Any) -> None:
    run_script("calendar", page, sites_server.url, 0)
    assert check(page)["success"]
    goto(page, sites_server, "calendar", 1)
    assert not check(page)["success"]
    goto(page, sites_server, "calendar", 0)
    assert check(page)["success"], "a new page load must not lose what was saved"
    page.goto(SITES["calendar"].start_url(sites_server.url, 0) + "&reset=1")
    assert not check(page)["success"], "reset=1 starts the seed afresh"


# ----------------------------------------------------------------------------- predicates


def test_expense_form_shows_validation_errors_and_does_not_succeed_on_bad_input(
    sites_server: SiteServer, page: Any
) -> None:
    goto(page, sites_server, "expense", 0)
    goal = page.evaluate("window.traj.goal")
    employee, date, category, amount, description = re.search(
        r"for (.+?): date (\S+), category (.+?), amount ([\d.]+), description \"(.*)\"", goal
    ).groups()
    good = {"employee": employee, "date": date, "category": category, "amount": amount, "description": description}

    fill_expense(page, **(good | {"amount": "-5"}))
    assert "more than 0" in page.locator("#amount-error").inner_text()
    assert page.locator("#amount").get_attribute("aria-invalid") == "true"
    assert page.locator("#error-summary").is_visible()
    assert page.locator("#done-view").is_hidden()
    result = check(page)
    assert result["success"] is False
    assert "failed validation" in result["detail"]

    fill_expense(page, **(good | {"amount": "twelve", "date": "2025-02-30", "employee": " "}))
    assert "as a number" in page.locator("#amount-error").inner_text()
    assert "YYYY-MM-DD" in page.locator("#date-error").inner_text()
    assert page.locator("#employee-error").inner_text()
    assert page.locator("#error-summary").inner_text() == "Please fix 3 errors below."
    assert not check(page)["success"]

    fill_expense(page, **good)
    page.locator("#done-view").wait_for()
    assert page.locator("#amount-error").inner_text() == ""
    assert check(page)["success"]


def test_expense_with_a_wrong_value_is_submitted_but_does_not_succeed(sites_server: SiteServer, page: Any) -> None:
    goto(page, sites_server, "expense", 1)
    goal = page.evaluate("window.traj.goal")
    employee, date, category, amount, description = re.search(
        r"for (.+?): date (\S+), category (.+?), amount ([\d.]+), description \"(.*)\"", goal
    ).groups()
    fill_expense(
        page,
        employee=employee,
        date=date,
        category=category,
        amount=f"{float(amount) + 1:.2f}",
        description=description,
    )
    page.locator("#done-view").wait_for()
    result = check(page)
    assert result["success"] is False
    assert "amount" in result["detail"]


def test_price_monitor_does_not_succeed_when_notified_too_early(sites_server: SiteServer, page: Any) -> None:
    goto(page, sites_server, "price", 0)  # real speed: the price stays above the threshold for over two seconds
    threshold = float(re.search(r"below \$(\d+)", page.evaluate("window.traj.goal")).group(1))
    note = re.search(r"note \"(.*)\"", page.evaluate("window.traj.goal")).group(1)
    shown = float(page.locator("#price").inner_text().lstrip("$"))
    assert shown >= threshold
    page.locator("#note").fill(note)
    page.locator("#notify").click()
    result = check(page)
    assert result["success"] is False
    assert "not below" in result["detail"]

    # The clock runs from the first visit, so at ten times the speed the drop has already come.
    goto(page, sites_server, "price", 0, fast=True)
    page.wait_for_function(
        "limit => parseFloat(document.querySelector('#price').textContent.slice(1)) < limit", arg=threshold
    )
    page.locator("#note").fill(note)
    page.locator("#notify").click()
    assert check(page)["success"] is False, "notifying again after the drop must not undo the early notification"


def test_flights_booking_a_pricier_flight_does_not_succeed(sites_server: SiteServer, page: Any) -> None:
    goto(page, sites_server, "flights", 1)
    trip = page.evaluate("window.TrajFlights.trip")
    page.goto(f"{sites_server.url}/flights/jetdeal/?seed=1&from={trip['from']}&to={trip['to']}&date={trip['date']}")
    page.locator("#sort").select_option("price")
    page.locator("#rows .book").last.click()  # the dearest of at least four deals
    page.locator("#confirm .pay").click()
    result = check(page)
    assert result["success"] is False
    assert "but the cheapest is" in result["detail"]


def test_calendar_event_at_the_wrong_time_does_not_count(sites_server: SiteServer, page: Any) -> None:
    goto(page, sites_server, "calendar", 0)
    weekday, month, day, start, end, title = re.search(
        r"Block out (\w+), (\w+) (\d+) from (\d\d:\d\d) to (\d\d:\d\d) .*title \"(.*)\"",
        page.evaluate("window.traj.goal"),
    ).groups()
    first, last = _minutes(start), _minutes(end)
    if last - first > 30:
        last = first + 30  # ends too early
    elif last < 18 * 60:
        last += 30  # ends too late
    else:
        first -= 30  # starts too early
    _add_event(page, f"{weekday}, {month} {day}", _hhmm(first), _hhmm(last), title)
    result = check(page)
    assert result["success"] is False
    assert "but the task wants" in result["detail"]


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def test_cross_app_success_is_visible_from_the_inbox_and_the_calendar(sites_server: SiteServer, page: Any) -> None:
    run_script("cross_app", page, sites_server.url, 1)
    assert "from=inbox" in page.url
    assert check(page)["success"]
    goto(page, sites_server, "cross_app", 1)  # back to the inbox
    assert page.evaluate("window.traj.task") == "cross_app"
    assert check(page)["success"]
    goto(page, sites_server, "calendar", 1)  # the plain calendar task asks for a different slot
    assert page.evaluate("window.traj.task") == "calendar"
    assert not check(page)["success"]


def test_index_page_links_the_five_tasks_with_the_seed(sites_server: SiteServer, page: Any) -> None:
    page.goto(f"{sites_server.url}/?seed=4")
    hrefs = page.locator("a[data-path]").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == [f"{site.path}?seed=4" for site in SITES.values()]


# ----------------------------------------------------------------------------- the server


def test_server_listens_on_a_free_port_and_answers_404_for_unknown_paths() -> None:
    with serve_sites(port=0) as running:
        assert running.port > 0
        assert running.url == f"http://127.0.0.1:{running.port}"
        with urllib.request.urlopen(running.url + "/calendar/?seed=3") as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            assert b"Planwise" in response.read()
        with urllib.request.urlopen(running.url + "/common/traj.js") as response:
            assert response.headers["Content-Type"].startswith("text/javascript")
        for path in ("/no-such-site/", "/calendar/missing.js", "/common/"):
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(running.url + path)
            assert caught.value.code == 404, path
            caught.value.close()
        with pytest.raises(TrajError, match="cannot serve the demo sites"):
            SiteServer("127.0.0.1", running.port)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(running.url + "/", timeout=2)
