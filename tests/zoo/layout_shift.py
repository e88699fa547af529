"""Continue while a banner pushes the button down: Playwright's click, whose first press lands on
the page above the moved button, is swallowed by its hit-target check and pressed again; the
swallowed press is no step."""

from zoo import Step

STEPS = [Step("CLICK", 'button "Continue"')]


def demonstrate(page) -> None:
    page.get_by_role("button", name="Continue").click()
    page.get_by_text("Paying").wait_for()
