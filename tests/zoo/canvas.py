"""Start the game with a button drawn on a canvas: reported as not capturable, never dropped."""

from zoo import Step

STEPS = [Step("CLICK", 'canvas ""')]
WARNINGS = ["landed on a <canvas>"]
REPLAYABLE = False
"""The drawn button is pixels: a replay can only click the canvas, not the control it showed."""


def demonstrate(page) -> None:
    box = page.locator("#game").bounding_box()
    page.mouse.click(box["x"] + 60, box["y"] + 40)
    page.get_by_text("Started").wait_for()
