"""Synthetic shop searches: a query, maybe a sort, the product asked for."""

from __future__ import annotations

from traj.prompt import AgentAction
from traj.tiny._builder import Builder, Elements, SyntheticPage, page_text, slug, with_attrs

__all__ = ["build_search"]


_PRODUCTS = (
    "headphones",
    "running shoes",
    "desk lamp",
    "coffee grinder",
    "backpack",
    "monitor",
    "keyboard",
    "rain jacket",
    "water bottle",
    "blender",
)
_BRANDS = ("Aria", "Strider", "Nimbus", "Vertex", "Lumen", "Kestrel", "Orbit", "Sonic", "Tundra", "Volta")


def build_search(b: Builder) -> None:
    s, v = b.structure, b.values
    app = s.choice(("gearbox", "Shopfront", "Pricely", "Marketo"))
    menu = s.sample(["Home", "Deals", "Cart (0)", "Account", "Help", "Orders"], 0 if b.bare else s.randint(2, 5))
    click_first = s.random() < 0.5
    button = s.random() < 0.6
    enter_searches = not button or s.random() < 0.4
    sort_first = s.random() < 0.3
    asks_price = s.random() < 0.5

    product = v.choice(_PRODUCTS)
    names = [f"{brand} {product}{model}" for brand in _BRANDS for model in ("", " Pro", " Lite", " 2")]
    results = [
        (name, f"${v.randint(20, 400)}.{v.choice((0, 49, 99)):02d}")
        for name in v.sample(names, 16 if b.long else v.randint(3, 6))
    ]
    wanted, price = v.choice(results)
    b.goal = f'Search the shop for "{product}" and open "{wanted}".' + (" Tell me its price." if asks_price else "")

    def top(page: Elements) -> tuple[str, str | None]:
        page.links(menu, "/shop/", b.seed)
        box = page.add("searchbox", "Search products", "input", placeholder="Search products")
        go = page.add("button", "Search", "button") if button else None
        return box, go

    home = Elements()
    box, go = top(home)
    for brand in s.sample(_BRANDS, 3):
        home.add("link", f"{brand} deals", "a", href=f"/shop/{brand.lower()}/?seed={b.seed}")
    url = b.url("/shop/")
    text = page_text(b, app, [app, *menu, "Search products", "Today's deals"])
    if click_first:
        b.act(SyntheticPage(url, text, home.items), AgentAction("CLICK", box), "Focus the search box.")
    b.act(SyntheticPage(url, text, home.items), AgentAction("TYPE", box, product), "Type what to search for.")
    typed = with_attrs(home.items, {box: {"value": product}})
    if enter_searches:
        b.act(SyntheticPage(url, text, typed), AgentAction("PRESS_ENTER", box), "Enter runs the search.")
    else:
        b.act(SyntheticPage(url, text, typed), AgentAction("CLICK", go), "The Search button runs the search.")
    listing = Elements()
    box, go = top(listing)
    listing.items = with_attrs(listing.items, {box: {"value": product}})
    sort = listing.add("button", "Sort by price", "button")
    listing.add("button", "Sort by rating", "button")
    ranked = sorted(results, key=lambda r: float(r[1][1:])) if sort_first else results
    url = b.url("/shop/search/")

    def result_page(rows: list[tuple[str, str]]) -> SyntheticPage:
        page = Elements()
        page.items = list(listing.items)
        ids = {name: page.add("link", name, "a", href=f"/shop/p/{slug(name)}/?seed={b.seed}") for name, _ in rows}
        lines = [app, f'Results for "{product}"', *[f"{name}\n{cost}" for name, cost in rows]]
        return SyntheticPage(url, page_text(b, app, lines), page.items), ids

    page, ids = result_page(results)
    if sort_first:
        b.act(page, AgentAction("CLICK", sort), "Sort the results by price first.")
        page, ids = result_page(ranked)
    b.act(page, AgentAction("CLICK", ids[wanted]), f'Open "{wanted}" from the results.')
    item = Elements()
    top(item)
    item.add("button", "Add to cart", "button")
    item.add("textbox", "Note for yourself", "input", placeholder="Why are you watching this price?")
    item.add("button", "Notify me", "button")
    text = page_text(b, app, [app, wanted, f"Price {price}", "Add to cart", "Price alert"])
    b.act(
        SyntheticPage(b.url(f"/shop/p/{slug(wanted)}/"), text, item.items),
        AgentAction("FINISH", None, price if asks_price else None),
        "The product page is open.",
    )
