"""Type a code key by key at a steady pace that is slower than the recorder's rest interval,
then save at once: no screenshot is taken while the keys come (the page is not at rest), so
none shows the code half typed (red)."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'textbox "Code"'),
    Step("TYPE", 'textbox "Code"', "abcdef", before={"value": ""}),
    Step("CLICK", 'button "Save"'),
]

KEY_DELAY_MS = 90
"""Longer than half the rest interval (150 ms): two keys apart, the page was not at rest."""


def demonstrate(page) -> None:
    click(page, "#code")
    page.keyboard.type("abcdef", delay=KEY_DELAY_MS)
    click(page, "#save")
