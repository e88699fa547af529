"""Choose Banana in a custom role=listbox dropdown."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'button "Fruit: choose"', before={"aria-expanded": "false"}),
    Step("CLICK", 'option "Banana"', before={"aria-selected": "false"}),
]


def demonstrate(page) -> None:
    click(page, "#fruit")
    click(page, "#fruits li:nth-child(2)")
