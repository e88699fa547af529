"""Sign in with a password: it is recorded as the secret's name, and replay types it from TRAJ_SECRET_PASSWORD."""

from traj.eventlog import Secret
from zoo import Step, click

SECRETS = {"password": "Tr0ub4dor&3-zoo"}

STEPS = [
    Step("CLICK", 'textbox "User name"'),
    Step("TYPE", 'textbox "User name"', "ann"),
    Step("PRESS", 'textbox "User name"', "Tab"),
    Step("TYPE", 'textbox "Password"', Secret("password"), before={"value": ""}),
    Step("PRESS_ENTER", 'textbox "Password"'),
]


def demonstrate(page) -> None:
    click(page, "#user")
    page.keyboard.type("ann", delay=5)
    page.keyboard.press("Tab")
    page.keyboard.type(SECRETS["password"], delay=5)
    page.keyboard.press("Enter")
