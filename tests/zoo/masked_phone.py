"""Fill fields behind input masks that reformat the value on every keystroke (a phone number, an
amount with thousands separators): the recording holds what the field shows, and typing that
again through the mask gives the same value."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'textbox "Phone"'),
    Step("TYPE", 'textbox "Phone"', "(415) 555-0132", before={"value": ""}),
    Step("CLICK", 'textbox "Amount"'),
    Step("TYPE", 'textbox "Amount"', "12,500.75", before={"value": ""}),
    Step("CLICK", 'button "Save"'),
]


def demonstrate(page) -> None:
    click(page, "#phone")
    page.keyboard.type("4155550132", delay=20)
    click(page, "#amount")
    page.keyboard.type("12500.75", delay=20)
    click(page, "#save")
    page.get_by_text("Saved").wait_for()
