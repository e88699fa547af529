"""Playwright session on Chromium, the DOM snapshotter, the recorder and the action executor."""
