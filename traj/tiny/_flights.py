"""Synthetic flight lists: search a route, maybe sort, book the flight a goal names."""

from __future__ import annotations

from traj.prompt import AgentAction
from traj.tiny._builder import CITIES, Builder, Elements, SyntheticPage, page_text

__all__ = ["build_flights"]


_AIRLINES = ("SkyJet", "Aerolux", "Nordwing", "Bluebird", "Transalp", "Coastair", "Polar", "Meridian")


def build_flights(b: Builder) -> None:
    s, v = b.structure, b.values
    app = s.choice(("SkyFare", "JetDeal", "Flyby"))
    sort_first = s.random() < 0.35
    asks_code = s.random() < 0.4
    origin, destination = v.sample(CITIES, 2)
    count = v.randint(14, 22) if b.long else v.randint(3, 7)
    flights = []
    for _ in range(count):
        time = f"{v.randint(6, 21):02d}:{v.choice((0, 5, 20, 35, 50)):02d}"
        flights.append((v.choice(_AIRLINES), time, v.randint(39, 480)))
    flights = list({(a, t): (a, t, p) for a, t, p in flights}.values())
    airline, time, price = v.choice(flights)
    code = f"{v.choice('BCDFGHJK')}{v.choice('LMNPQRST')}{v.randint(1000, 9999)}"
    b.goal = f"Book the {airline} flight from {origin} to {destination} at {time}." + (
        " Tell me the confirmation code." if asks_code else ""
    )
    url = b.url(f"/flights/{app.lower()}/")

    def results(rows: list[tuple[str, str, int]]) -> tuple[SyntheticPage, str, dict[tuple[str, str], str]]:
        page = Elements()
        page.links(["Trip planner", "SkyFare", "JetDeal"], "/flights/", b.seed, app)
        sort = page.add("button", "Sort by price", "button")
        ids = {(a, t): page.add("button", f"Book {a} {t} for {p} USD", "button") for a, t, p in rows}
        lines = [app, f"{origin} to {destination}", *[f"{a} {t} {p} USD" for a, t, p in rows]]
        return SyntheticPage(url, page_text(b, app, lines), page.items), sort, ids

    page, sort, ids = results(flights)
    if sort_first:
        b.act(page, AgentAction("CLICK", sort), "Sort the flights by price first.")
        page, sort, ids = results(sorted(flights, key=lambda f: f[2]))
    b.act(page, AgentAction("CLICK", ids[(airline, time)]), f"Book the {airline} flight at {time}.")
    done = Elements()
    done.links(["Trip planner", "SkyFare", "JetDeal"], "/flights/", b.seed, app)
    done.add("link", "My trips", "a", href=f"/flights/trips/?seed={b.seed}")
    text = page_text(b, app, [app, f"Booked {airline} {time} for {price} USD.", f"Confirmation {code}"])
    b.act(
        SyntheticPage(url, text, done.items),
        AgentAction("FINISH", None, code if asks_code else None),
        "The booking is confirmed.",
    )
