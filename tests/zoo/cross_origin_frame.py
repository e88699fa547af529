"""Fill the page's field, then a payment widget in a cross-origin iframe (another host, as a
payment provider's is): every step is recorded in the order it was done, each one inside the
widget with a warning that its observation shows that frame alone and a replay cannot reach it."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'textbox "Email for the receipt"'),
    Step("TYPE", 'textbox "Email for the receipt"', "ada@example.org", before={"value": ""}),
    Step("CLICK", 'textbox "Name on card"'),
    Step("TYPE", 'textbox "Name on card"', "Ada Moreau", before={"value": ""}),
    Step("CLICK", 'button "Pay 30 EUR"'),
]
WARNINGS = ["inside a cross-origin iframe"]
REPLAYABLE = False
"""The widget's locators name no frame: a replay looks for its field in the page, finds the
page's own field under the same CSS path and refuses it (a different control is never accepted)."""


def demonstrate(page) -> None:
    click(page, "#email")
    page.keyboard.type("ada@example.org", delay=20)
    frame = page.frame_locator("#card")
    frame.locator("#holder").wait_for()
    box = frame.locator("#holder").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.keyboard.type("Ada Moreau", delay=20)
    pay = frame.locator("#pay").bounding_box()
    page.mouse.click(pay["x"] + pay["width"] / 2, pay["y"] + pay["height"] / 2)
    frame.get_by_text("Paid.").wait_for()
