"""Pick a date in a jQuery-UI-style popup: a read-only field opens a month of day links, Next
moves a month, a day click writes the date from script. Each click is a step; the date written
by the page is no typing of the person's."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'textbox "Delivery date"'),
    Step("CLICK", 'link "Next"'),
    Step("CLICK", 'link "15"'),
    Step("CLICK", 'button "Confirm"'),
]


def demonstrate(page) -> None:
    click(page, "#date")
    page.locator("#picker:not([hidden])").wait_for()
    click(page, "#next")
    page.get_by_text("January 2027").wait_for()
    click(page, "#days a >> text='15'")
    click(page, "#confirm")
    page.get_by_text("Delivery on").wait_for()
