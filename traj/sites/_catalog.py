"""The catalogue of bundled demo sites: one ``Site`` per task, keyed by task name."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

__all__ = ["SITES", "VARIANTS", "Site"]

VARIANTS: tuple[str, ...] = ("mutated", "ambiguous", "removed", "shuffled")
"""Page variants every site serves with ``?variant=``, for testing replays against a changed page.

``mutated``: ids and classes renamed, a cookie banner on top, unordered things reordered;
``ambiguous``: a lookalike form or section with the same labels and button texts placed
before the real one; ``removed``: the control that completes the task is left out;
``shuffled``: the layout varies by seed (field, option and column order), the learning
benchmark's hard split. Without it a seed varies values and content only.
Visible texts, labels, placeholders and ARIA names of the real controls never change.
"""


@dataclass(frozen=True)
class Site:
    """One demo task: where it starts and what a person (or the agent) is asked to do.

    The exact goal for a seed (names, dates, prices) is computed by the page itself and
    read from ``window.traj.goal``, its values as typed from ``window.traj.params``;
    ``task`` is the seed-independent description.
    """

    name: str
    path: str
    task: str

    def start_url(
        self, base_url: str, seed: int, *, fast: bool = False, variant: str | None = None, reset: bool = False
    ) -> str:
        """The URL a demonstration of this task starts from.

        ``fast`` runs timed behaviour (the price monitor's ticks) ten times faster, for tests.
        ``variant`` serves one of ``VARIANTS`` instead of the plain page; links and forms keep it.
        ``reset`` clears what earlier tasks of this seed left in the browser (reports, bookings,
        alerts, the price clock) when the page loads, so a run is judged on what it did itself.
        """
        if variant is not None and variant not in VARIANTS:
            raise ValueError(f"unknown site variant {variant!r}; known: {', '.join(VARIANTS)}")
        query = {"seed": str(seed)} | ({"fast": "1"} if fast else {}) | ({"variant": variant} if variant else {})
        query |= {"reset": "1"} if reset else {}
        return f"{base_url.rstrip('/')}{self.path}?{urlencode(query)}"


SITES: dict[str, Site] = {
    site.name: site
    for site in (
        Site("calendar", "/calendar/", "Block out a time slot on a given day with a title in a week-view calendar."),
        Site(
            "flights",
            "/flights/",
            "Find the cheapest flight between two cities across two competing travel sites and book it.",
        ),
        Site("expense", "/expense/", "Fill and submit an expense report form; bad input shows validation errors."),
        Site(
            "price",
            "/price/",
            'Watch a product\'s changing price and press "Notify me" once it drops below a threshold.',
        ),
        Site("cross_app", "/inbox/", "Read a meeting's details in an email and add the meeting to the calendar app."),
    )
}
"""Every bundled task by name, in the order the index page lists them."""
