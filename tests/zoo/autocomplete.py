"""Pick Paris from a jQuery-UI-style autocomplete: the first suggestion, not the list's middle."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'textbox "City"', before={"value": ""}),
    Step("TYPE", 'textbox "City"', "Par", before={"value": ""}),
    Step("CLICK", 'div "Paris"'),
]


def demonstrate(page) -> None:
    click(page, "#city")
    page.keyboard.type("Par", delay=20)
    page.locator(".ui-menu-item").nth(2).wait_for()
    click(page, ".ui-menu-item:nth-child(1) .ui-menu-item-wrapper")
    page.get_by_text("Going to Paris").wait_for()
