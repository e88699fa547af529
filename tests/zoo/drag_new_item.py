"""Drag an item the page has just added (HTML5 draggable): the drag is decided in a state where
that item is new, which its observation must say (one snapshot at the press, not two)."""

from zoo import Step, click

STEPS = [Step("CLICK", 'button "Add Dry"'), Step("DRAG", 'listitem "Dry"', 'listitem "Wash"')]


def demonstrate(page) -> None:
    click(page, "#add")
    page.wait_for_timeout(300)
    source, target = (
        page.locator("li", has_text="Dry").bounding_box(),
        page.locator("li", has_text="Wash").bounding_box(),
    )
    page.mouse.move(source["x"] + 10, source["y"] + source["height"] / 2)
    page.mouse.down()
    page.mouse.move(target["x"] + 10, target["y"] + target["height"] / 2, steps=10)
    page.mouse.up()
