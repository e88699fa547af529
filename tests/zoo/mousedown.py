"""Open the February report on a page that reacts on mousedown, before the click."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'button "Open report"'),
    Step("CLICK", 'listitem "February"'),
]


def demonstrate(page) -> None:
    click(page, "#open")
    page.locator("li").nth(1).wait_for()
    click(page, "li:nth-child(2)")
    page.get_by_text("Showing February").wait_for()
