"""What a page says about its own task: the ``window.traj`` object the bundled sites (and any
site that wants to be checked) define, with ``goal``, ``params`` and ``check()``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["page_goal", "page_params", "page_verdict"]


def page_goal(page: Page) -> str:
    """The page's ``window.traj.goal``, or '' when it states none."""
    return str(page.evaluate("() => (window.traj && window.traj.goal) || ''"))


def page_params(page: Page) -> dict[str, str]:
    """The page's ``window.traj.params`` (the goal's values for this instance), as strings."""
    params = page.evaluate("() => (window.traj && window.traj.params) || {}")
    return {str(name): str(value) for name, value in params.items()}


def page_verdict(page: Page) -> bool | None:
    """The page's own success predicate, ``window.traj.check().success``; None when it has none."""
    verdict = page.evaluate("() => (window.traj && window.traj.check) ? window.traj.check() : null")
    return None if verdict is None else bool(verdict.get("success"))
