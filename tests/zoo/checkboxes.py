"""Set preferences: a checkbox, a radio by its label, a switch and a CSS toggle over a hidden box."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'checkbox "Subscribe to news"', before={"checked": "false"}),
    Step("CLICK", 'radio "Pro"', before={"checked": "false"}),
    Step("CLICK", 'switch "Dark mode"', before={"aria-checked": "false"}),
    Step("CLICK", 'label "Compact view"'),  # the box itself is not shown: the label is what was clicked
]


def demonstrate(page) -> None:
    click(page, "#news")
    page.get_by_text("Pro").click()  # the label's text, not the box
    click(page, "#dark")
    click(page, ".knob")
