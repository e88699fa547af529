"""Edit a spreadsheet-style cell that opens its editor on double-click only, type the new amount
and press Enter: the double-click is a click and CLICK "double" (its second click, the one that
fires dblclick), and a replay opens the editor the same way."""

from zoo import Step

STEPS = [
    Step("CLICK", 'cell "250"'),
    Step("CLICK", 'cell "250"', "double"),
    Step("TYPE", 'textbox "Food amount"', "310", before={"value": "250"}),
    Step("PRESS_ENTER", 'textbox "Food amount"'),
]


def demonstrate(page) -> None:
    box = page.locator(".cell").nth(1).bounding_box()
    page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_label("Food amount").wait_for()
    page.keyboard.type("310", delay=20)
    page.keyboard.press("Enter")
