"""Search mystery movies by Wong from 2003 made in Peru.

Fields labelled by a row header, a label without for, a caption after (no label markup, no ids).
"""

from zoo import Step, click

STEPS = [
    Step("CLICK", 'textbox "Genre"'),
    Step("TYPE", 'textbox "Genre"', "mystery"),
    Step("CLICK", 'textbox "Director"'),
    Step("TYPE", 'textbox "Director"', "Wong"),
    Step("CLICK", 'textbox "Year"'),
    Step("TYPE", 'textbox "Year"', "2003"),
    Step("CLICK", 'textbox "Country"'),
    Step("TYPE", 'textbox "Country"', "Peru"),
    Step("CLICK", 'button "Search"'),
]


def demonstrate(page) -> None:
    for field, text in (
        ("tr:has-text('Genre') input", "mystery"),
        ("tr:has-text('Director') input", "Wong"),
        ("p:has-text('Year') input", "2003"),
        (".entry:has-text('Country') input", "Peru"),
    ):
        click(page, field)
        page.keyboard.type(text, delay=5)
    click(page, "#search")
    page.get_by_text("Searching mystery").wait_for()
