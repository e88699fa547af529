"""Type a one-time code into four one-digit boxes in one run of keys (the page moves the focus
on after each digit): each box gets its own TYPE of its own digit."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'textbox "Digit 1"'),
    Step("TYPE", 'textbox "Digit 1"', "4", before={"value": ""}),
    Step("TYPE", 'textbox "Digit 2"', "8", before={"value": ""}),
    Step("TYPE", 'textbox "Digit 3"', "2", before={"value": ""}),
    Step("TYPE", 'textbox "Digit 4"', "9", before={"value": ""}),
    Step("CLICK", 'button "Verify"'),
]


def demonstrate(page) -> None:
    click(page, '[aria-label="Digit 1"]')
    page.keyboard.type("4829", delay=60)
    click(page, "#verify")
    page.get_by_text("Checked").wait_for()
