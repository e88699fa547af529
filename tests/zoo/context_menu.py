"""Delete a file through the page's own context menu: a right-click on the file opens it
(CLICK "right", observed before the menu opened), then Delete; a replay right-clicks too."""

from zoo import Step

STEPS = [
    Step("CLICK", 'listitem "old-report.pdf"', "right"),
    Step("CLICK", 'menuitem "Delete"'),
]


def demonstrate(page) -> None:
    box = page.get_by_text("old-report.pdf").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, button="right")
    page.locator("#menu:not([hidden])").wait_for()
    box = page.locator("#delete").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
