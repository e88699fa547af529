"""Subscribe with the keyboard only: Tab between fields, Space ticks, Backspace drops a topic, Escape closes help."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'textbox "Email"'),
    Step("TYPE", 'textbox "Email"', "ann@example.org", before={"value": ""}),
    Step("PRESS", 'textbox "Email"', "Tab"),
    Step("PRESS", 'checkbox "Weekly digest"', "Space", before={"checked": "false"}),
    Step("PRESS", 'checkbox "Weekly digest"', "Tab", before={"checked": "true"}),
    Step("PRESS", 'button "Sports"', "Backspace"),
    Step("PRESS", None, "Tab"),  # the focused chip is gone: the page has the focus
    Step("PRESS", 'button "Cooking"', "Tab"),
    Step("PRESS_ENTER", 'button "Help"'),
    Step("PRESS", 'button "Help"', "Escape"),
    Step("PRESS", 'button "Help"', "Tab"),
    Step("PRESS_ENTER", 'button "Subscribe"'),
]


def demonstrate(page) -> None:
    click(page, "#email")
    page.keyboard.type("ann@exmaple", delay=5)
    for _ in range(7):  # a typo, corrected: the field's final value is what counts
        page.keyboard.press("Backspace")
    page.keyboard.type("example.org", delay=5)
    for key in ("Tab", "Space", "Tab", "Backspace", "Tab", "Tab", "Enter", "Escape", "Tab", "Enter"):
        page.keyboard.press(key)
