"""Fill the shipping form with Playwright's own input methods: each is recorded as a person's input."""

from zoo import Step

STEPS = [
    Step("TYPE", 'textbox "Recipient"', "Ada", before={"value": ""}),
    Step("SELECT", 'combobox "Delivery"', "Express", before={"selected": "Standard"}),
    Step("TYPE", 'textbox "Delivery day"', "2024-05-01", before={"value": ""}),
    Step("CLICK", 'checkbox "Gift wrap"', before={"checked": "false"}),
    Step("CLICK", 'textbox "Note"', before={"value": ""}),
    Step("TYPE", 'textbox "Note"', "Fragile", before={"value": ""}),
    Step("CLICK", 'button "Ship it"'),
]


def demonstrate(page) -> None:
    page.get_by_label("Recipient").fill("Ada")
    page.get_by_label("Delivery", exact=True).select_option("Express")
    page.get_by_label("Delivery day").fill("2024-05-01")
    page.get_by_label("Gift wrap").check()
    page.get_by_label("Note").click()
    page.get_by_label("Note").press_sequentially("Fragile", delay=10)
    page.get_by_role("button", name="Ship it").click()
