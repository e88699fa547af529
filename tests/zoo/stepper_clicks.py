"""Set quantities with +/- steppers, clicking the same button several times in quick succession
(100 ms apart): every click is a step of its own, none merged or lost."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'button "More adults"'),
    Step("CLICK", 'button "More adults"'),
    Step("CLICK", 'button "More children"'),
    Step("CLICK", 'button "More children"'),
    Step("CLICK", 'button "Fewer children"'),
    Step("CLICK", 'button "Book"'),
]


def demonstrate(page) -> None:
    for selector in ('[aria-label="More adults"]',) * 2 + ('[aria-label="More children"]',) * 2:
        click(page, selector)
        page.wait_for_timeout(100)
    click(page, '[aria-label="Fewer children"]')
    click(page, "#book")
    page.get_by_text("Booked").wait_for()
