"""Search, wait for the results to arrive, pick a flight."""

import re

from zoo import Step, click

STEPS = [
    Step("CLICK", 'button "Search"'),
    Step("WAIT", None, re.compile(r"\d+\.\d")),  # the person waited for the results
    Step("CLICK", 'button "Flight AF12"'),
]


def demonstrate(page) -> None:
    click(page, "#search")
    page.locator(".flight").wait_for(timeout=15_000)
    click(page, ".flight")
