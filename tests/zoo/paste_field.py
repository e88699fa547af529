"""Paste a code into a field with Ctrl+V (no key is typed into it), then type a note: the paste is
one TYPE of the pasted value, and the shortcut is no key press of its own."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'textbox "Card code"'),
    Step("TYPE", 'textbox "Card code"', "GIFT-7Q2X-99KD", before={"value": ""}),
    Step("CLICK", 'textbox "Note"'),
    Step("TYPE", 'textbox "Note"', "for Mia", before={"value": ""}),
    Step("CLICK", 'button "Redeem"'),
]


def demonstrate(page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.evaluate("navigator.clipboard.writeText('GIFT-7Q2X-99KD')")
    click(page, "#code")
    page.keyboard.press("Control+V")
    page.wait_for_function("document.getElementById('code').value.length > 0")
    click(page, "#note")
    page.keyboard.type("for Mia", delay=20)
    click(page, "#redeem")
    page.get_by_text("Redeemed").wait_for()
