"""Move Ines to the top of a list sorted by mouse events (jQuery UI's sortable, without jQuery).

The item follows the pointer, so the release is over the item itself; the gap it leaves is a
hidden placeholder. The drop is onto the item that stood where the pointer was released.
"""

from zoo import Step

STEPS = [Step("DRAG", 'listitem "Ines"', 'listitem "Ada"')]


def demonstrate(page) -> None:
    source = page.locator("#list li", has_text="Ines").bounding_box()
    top = page.locator("#list li", has_text="Ada").bounding_box()
    x, y = source["x"] + 40, source["y"] + source["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    end = top["y"] + top["height"] / 4  # a person drags past the first item's middle
    for step in range(1, 11):
        page.mouse.move(x, y + (end - y) * step / 10)
    page.mouse.up()
    page.wait_for_function("() => window.zooDone()")
