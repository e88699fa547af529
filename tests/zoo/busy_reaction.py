"""Save the draft and go on at once: the page's own work, however slow, is not waited for."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'button "Save draft"'),
    Step("CLICK", 'button "Next page"'),
]


def demonstrate(page) -> None:
    click(page, "#save")
    page.get_by_role("button", name="Next page").click()
