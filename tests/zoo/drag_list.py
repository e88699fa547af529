"""Order the recipe by drag and drop (HTML5 draggable items): Cook goes after Wash."""

from zoo import Step

STEPS = [Step("DRAG", 'listitem "Cook"', 'listitem "Wash"')]


def demonstrate(page) -> None:
    source, target = (
        page.locator("li", has_text="Cook").bounding_box(),
        page.locator("li", has_text="Wash").bounding_box(),
    )
    page.mouse.move(source["x"] + 10, source["y"] + source["height"] / 2)
    page.mouse.down()
    page.mouse.move(target["x"] + 10, target["y"] + target["height"] / 2, steps=10)
    page.mouse.up()
