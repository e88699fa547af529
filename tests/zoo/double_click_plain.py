"""Double-click a button that only counts clicks: two clicks, recorded and replayed as two, and
no double-click warning (nothing on the page listens for one)."""

from zoo import Step

STEPS = [
    Step("CLICK", 'button "Like"'),
    Step("CLICK", 'button "Like"'),
]


def demonstrate(page) -> None:
    box = page.locator("#like").bounding_box()
    page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_text("Likes: 2").wait_for()
