"""Read the help: a button opens it in a popup window, where it is acknowledged."""

import re

from zoo import Step, click

STEPS = [
    Step("CLICK", 'button "Open help"'),
    Step("NAVIGATE", None, re.compile(r"popup:http://127\.0\.0\.1:\d+/popup\.html\?child=1")),
    Step("CLICK", 'button "Got it"'),
]


def demonstrate(page) -> None:
    with page.context.expect_page() as opened:
        click(page, "#help")
    popup = opened.value
    popup.wait_for_load_state()
    click(popup, "#ack")
