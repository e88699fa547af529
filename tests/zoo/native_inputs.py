"""Book a room through native inputs that fire no beforeinput: date, time, slider, pickers."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'textbox "Arrival"', before={"value": ""}),
    Step("TYPE", 'textbox "Arrival"', "2024-03-15", before={"value": ""}),
    Step("CLICK", 'textbox "Check-in time"', before={"value": ""}),
    Step("TYPE", 'textbox "Check-in time"', "09:30", before={"value": ""}),
    Step("CLICK", 'spinbutton "Guests"', before={"value": ""}),
    Step("TYPE", 'spinbutton "Guests"', "2", before={"value": ""}),
    Step("TYPE", 'slider "Music volume"', "100", before={"value": "20"}),
    Step("TYPE", 'textbox "Departure"', "2024-03-20T11:00", before={"value": ""}),
    Step("TYPE", 'textbox "Billing month"', "2024-04", before={"value": ""}),
    Step("TYPE", 'textbox "Cleaning week"', "2024-W12", before={"value": ""}),
    Step("TYPE", 'textbox "Towel colour"', "#ff8800", before={"value": "#000000"}),
]


def demonstrate(page) -> None:
    # Typed the way a person types into them: segment by segment, no beforeinput.
    box = page.locator("#day").bounding_box()
    page.mouse.click(box["x"] + 8, box["y"] + box["height"] / 2)  # its first segment (the month)
    page.keyboard.type("03152024", delay=20)
    click(page, "#at")
    page.keyboard.type("0930AM", delay=20)
    click(page, "#guests")
    page.keyboard.type("2", delay=20)
    box = page.locator("#volume").bounding_box()
    page.mouse.click(box["x"] + box["width"] - 1, box["y"] + box["height"] / 2)  # the slider's end
    # Pickers a person opens and chooses in: Playwright sets them as the picker does.
    page.locator("#when").fill("2024-03-20T11:00")
    page.locator("#month").fill("2024-04")
    page.locator("#week").fill("2024-W12")
    page.locator("#color").fill("#ff8800")
