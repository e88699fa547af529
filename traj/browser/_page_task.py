"""What a page says about its own task: the ``window.traj`` object the bundled sites (and any
site that wants to be checked) define, with ``goal`` and ``check()``.

Its ``params`` are never read: a replay binds a demo's variables from the goal's text."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["page_goal", "page_verdict"]


def page_goal(page: Page) -> str:
    """The page's ``window.traj.goal``, or '' when it states none."""
    return str(page.evaluate("() => (window.traj && window.traj.goal) || ''"))


def page_verdict(page: Page) -> bool | None:
    """The page's own success predicate, ``window.traj.check().success``; None when it has none."""
    verdict = page.evaluate("() => (window.traj && window.traj.check) ? window.traj.check() : null")
    return None if verdict is None else bool(verdict.get("success"))
