"""``record``: one demonstration, by a person at the window or by a scripted demonstrator."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from traj.browser._chromium import launch
from traj.browser._page_task import page_goal
from traj.browser._recorder import RecordedDemo, Recorder, open_url
from traj.errors import BrowserError

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from traj.eventlog import Store, SuccessSpec

__all__ = ["Demonstrator", "record"]

Demonstrator = Callable[["Page"], None]
"""Performs the task on a page through real mouse and keyboard input."""

_POLL_MS = 250


def record(
    store: Store,
    url: str,
    *,
    task: str,
    goal: str | None = None,
    demonstrator: Demonstrator | None = None,
    headless: bool | None = None,
    until_url: str | None = None,
    until_text: str | None = None,
    seed: int | None = None,
    screenshots: bool = True,
    variables: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    on_warning: Callable[[str], None] | None = None,
    success_spec: SuccessSpec | None = None,
) -> RecordedDemo:
    """Record a demonstration of ``task`` starting at ``url`` into ``store``.

    With ``demonstrator`` a script performs the task (source ``script``); otherwise a person
    does, and the recording ends when the window closes, on Ctrl+C, or when the page reaches
    ``until_url`` (a regular expression) or shows ``until_text``. Without ``goal``, the page's
    own ``window.traj.goal`` (the bundled sites set one) is used.

    The task's variables (what a replay on another instance changes) are the values and
    clicked names the goal states (:func:`~traj.projections.derive_variables`); ``variables``
    (name -> value) names more: the actions that type or select exactly those values.

    ``secrets`` (name -> value) are stored only as ``{"secret": name}`` wherever typed, as is
    anything typed into a password field (:class:`~traj.browser.SecretKeeper`).

    ``success_spec`` states what the finished task looks like (``--success-text`` and the
    like); without it the end state is the spec (:func:`~traj.browser.derive_success_spec`).

    ``on_warning`` hears each step that cannot be captured exactly, as it happens (default:
    logged); the result lists them too. An unreachable ``url`` raises BrowserError.
    """
    with launch(headless=headless) as session:
        page = session.page
        if goal is None:
            open_url(page, url)
            goal = page_goal(page)
            if not goal:
                raise BrowserError(f"{url} states no goal (window.traj.goal); pass one with --goal")
        recorder = Recorder(
            store,
            session.context,
            task=task,
            goal=goal,
            url=url,
            seed=seed,
            source="script" if demonstrator else "human",
            screenshots=screenshots,
            variables=variables,
            secrets=secrets,
            on_warning=on_warning,
            success_spec=success_spec,
        )
        page = recorder.start(page)
        reason = ""
        try:
            if demonstrator is not None:
                demonstrator(page)
                page.wait_for_timeout(300)  # the last reaction settles, as it would for a person
            else:
                reason = _wait_for_person(recorder, until_url, until_text)
        except KeyboardInterrupt:
            reason = "stopped with Ctrl+C"
        except BaseException:
            with contextlib.suppress(BrowserError):
                recorder.drain()  # what was recorded stays, as an unfinished demo, before the store can close
            raise
        return recorder.finish(reason=reason)


def _wait_for_person(recorder: Recorder, until_url: str | None, until_text: str | None) -> str:
    """Block until the person is done; returns why the recording ended."""
    pattern = re.compile(until_url) if until_url else None
    while True:
        page = recorder.page
        if page is None or page.is_closed():
            return "the window was closed"
        if pattern is not None and pattern.search(page.url):
            return f"reached {page.url}"
        if until_text is not None and page.get_by_text(until_text).count():
            return f"the page shows {until_text!r}"
        page.wait_for_timeout(_POLL_MS)
