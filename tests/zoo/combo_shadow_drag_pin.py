"""Sort a playlist in a shadow root by drag and drop and Alt+ArrowUp, then save with a PIN (a password field)."""

from traj.eventlog import Secret
from zoo import Step, click

SECRETS = {"pin": "2468"}

STEPS = [
    Step("DRAG", 'listitem "Blue"', 'listitem "Green"'),
    Step("CLICK", 'listitem "Green"'),
    Step("PRESS", 'listitem "Green"', "Alt+ArrowUp"),
    Step("CLICK", 'textbox "PIN"'),
    Step("TYPE", 'textbox "PIN"', Secret("pin"), before={"value": ""}),
    Step("CLICK", 'button "Save"'),
]


def demonstrate(page) -> None:
    blue = page.locator("play-list li", has_text="Blue").bounding_box()
    green = page.locator("play-list li", has_text="Green").bounding_box()
    page.mouse.move(blue["x"] + 10, blue["y"] + blue["height"] / 2)
    page.mouse.down()
    page.mouse.move(green["x"] + 10, green["y"] + green["height"] / 2, steps=10)
    page.mouse.up()  # Red, Green, Blue
    click(page, "play-list li:nth-child(2)")  # Green
    page.keyboard.press("Alt+ArrowUp")  # Green, Red, Blue
    click(page, "#pin")
    page.keyboard.type(SECRETS["pin"], delay=5)
    click(page, "#save")
