"""Choose the shirt size with the keyboard: Tab into the list, arrow down twice."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'textbox "Name on the shirt"'),
    Step("PRESS", 'textbox "Name on the shirt"', "Tab"),
    Step("SELECT", 'combobox "Size"', "Medium", before={"selected": "Small"}),
    Step("SELECT", 'combobox "Size"', "Large", before={"selected": "Medium"}),
    Step("PRESS", 'combobox "Size"', "Shift+Tab"),
]


def demonstrate(page) -> None:
    click(page, "#name")
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Shift+Tab")
