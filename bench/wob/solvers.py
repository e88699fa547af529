"""Scripted demonstrators for MiniWoB++ tasks: what a person does, with real input.

A solver gets a page whose episode has started (the instruction in ``#query``) and does the
task the way a person would: mouse clicks at an element's centre, drags with the mouse, typing
with the keyboard. It may read the page (locators, ``inner_text``, ``evaluate`` that only
reads) but never changes it by script, so whatever it does is what a recorder sees a person do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from wob._forms import SOLVERS as _FORMS
from wob._widgets import SOLVERS as _WIDGETS

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["SOLVERS"]

SOLVERS: dict[str, Callable[[Page], None]] = {**_FORMS, **_WIDGETS}
"""Task name -> solver."""
