"""Move the card to Done on a board driven by mouse events (no HTML5 drag and drop)."""

from zoo import Step

STEPS = [Step("DRAG", 'div "Write report"', 'region "Done column"')]


def demonstrate(page) -> None:
    card, zone = page.locator(".card").bounding_box(), page.locator(".zone").bounding_box()
    page.mouse.move(card["x"] + 20, card["y"] + card["height"] / 2)
    page.mouse.down()
    page.mouse.move(zone["x"] + 30, zone["y"] + zone["height"] / 2, steps=12)
    page.mouse.up()
