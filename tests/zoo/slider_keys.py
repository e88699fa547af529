"""Set the temperature to 22 with the arrow keys and the fan to full speed with End."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'slider "Temperature"'),
    Step("PRESS", 'slider "Temperature"', "ArrowRight", before={"value": "20"}),
    Step("PRESS", 'slider "Temperature"', "ArrowRight", before={"value": "21"}),
    Step("PRESS", 'slider "Temperature"', "Tab", before={"value": "22"}),
    Step("PRESS", 'slider "Fan speed"', "End", before={"aria-valuenow": "1"}),
]


def demonstrate(page) -> None:
    click(page, "#temp")  # the middle of the track: the value it has already
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Tab")
    page.keyboard.press("End")
