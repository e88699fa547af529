"""The five bundled demo sites (calendar, flights, expense, price, cross-app) and their scripted demonstrations.

Each site is a small static web app served on 127.0.0.1, randomised by ``?seed=N``, and
exposes ``window.traj = {task, goal, seed, params, variant, check}`` on every page;
``check()`` returns ``{success, detail}`` and is what the success checker evaluates;
``params`` holds the goal's values as strings exactly as a person types or selects them
(so a replay of one seed's demo can substitute another seed's values).

``?variant=mutated|ambiguous|removed|shuffled`` serves a changed page (``VARIANTS``):
renamed ids and classes with reordered elements and a cookie banner, a lookalike form before
the real one, the task's final control left out, or a layout that varies by seed.

State that must outlive a page load (events, bookings, reports, alerts) lives in the
browser's localStorage under ``traj/<seed>/``, shared by all sites (one origin), so a
fresh browser context starts every task afresh. ``&reset=1`` clears a seed's state in a
long-lived browser; ``&fast=1`` runs the price monitor's clock ten times faster.
"""

from traj.sites._catalog import SITES, VARIANTS, Site
from traj.sites._scripts import SCRIPTS, run_script
from traj.sites._server import STATIC_DIR, SiteServer, serve_sites

__all__ = ["SCRIPTS", "SITES", "STATIC_DIR", "VARIANTS", "Site", "SiteServer", "run_script", "serve_sites"]
