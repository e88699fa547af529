"""Playwright session on Chromium, the DOM snapshotter, the recorder and the action executor."""

from traj.browser._chromium import CHROMIUM_FLAGS, BrowserSession, find_chromium, has_display, launch

__all__ = ["CHROMIUM_FLAGS", "BrowserSession", "find_chromium", "has_display", "launch"]
