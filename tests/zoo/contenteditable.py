"""Write a note in a contenteditable area and save it."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'div "Notes"', before={"contenteditable": "true"}),
    Step("TYPE", 'div "Notes"', "Buy milk"),
    Step("CLICK", 'button "Save"'),
]


def demonstrate(page) -> None:
    click(page, "#notes")
    page.keyboard.type("Buy milk", delay=15)
    click(page, "#save")
