"""Pay for the basket: a link click takes the browser to another page."""

import re

from zoo import Step, click

STEPS = [
    Step("CLICK", 'link "Pay now"'),
    Step("NAVIGATE", None, re.compile(r"http://127\.0\.0\.1:\d+/navigate\.html\?step=paid")),
]


def demonstrate(page) -> None:
    click(page, "a")
    page.wait_for_url("**step=paid")
