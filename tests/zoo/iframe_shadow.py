"""Pay inside a same-origin iframe, then answer a consent box built in an open shadow root."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'button "Pay 12 EUR"'),
    Step("CLICK", 'button "Accept cookies"'),
    Step("CLICK", 'span "Remind me later"'),
]


def demonstrate(page) -> None:
    frame = page.frame_locator("#pay")
    frame.get_by_role("button", name="Pay 12 EUR").click()
    click(page, "consent-box >> #accept")
    click(page, "consent-box >> #later")
