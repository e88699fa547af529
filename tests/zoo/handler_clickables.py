"""Fill the cart by clicking plain elements made clickable only by the page's own script."""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'div "Add to cart"'),
    Step("CLICK", 'span "Remove one"'),
    Step("CLICK", 'div "Checkout"'),
]


def demonstrate(page) -> None:
    click(page, "#add")
    click(page, "#remove")
    click(page, "#checkout")
