"""Choose Media > Playback > Resume in a menu whose submenus open on hover (jQuery UI menu markup).

Only the click on Resume is a step; replay points at Media and Playback to show it, as the
person's pointer did on its way.
"""

from zoo import Step

STEPS = [Step("CLICK", 'menuitem "Resume"')]


def demonstrate(page) -> None:
    for name in ("Media", "Playback"):
        page.get_by_text(name, exact=True).hover()
        page.wait_for_timeout(400)
    box = page.get_by_text("Resume", exact=True).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_text("Chose Resume").wait_for()
