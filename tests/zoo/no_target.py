"""Click on plain text that nothing reacts to: recorded without a target, with a warning saying so."""

from zoo import Step, click

STEPS = [Step("CLICK", None)]
WARNINGS = [
    "step 0 (CLICK): the click at",
    'on <p> "By using this site you agree to everything."',
    "hit nothing the page reacts to",
]
REPLAYABLE = False
"""There is nothing to find again: the warning at record time is the point."""


def demonstrate(page) -> None:
    click(page, "#terms")
