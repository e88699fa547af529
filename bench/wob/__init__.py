"""MiniWoB++ pages served on 127.0.0.1, one instance per seed: a public suite nobody here wrote.

The pages come from the ``miniwob`` package (MIT; ``pip install --no-deps miniwob``: only its
HTML is used). Each page gets one script appended as it is served: on load it seeds the page's
random draws from ``?seed=N`` (as the suite's own Python environment does with
``Math.seedrandom``), lifts the 10 s episode limit (a recorded person and a replay under load
both take longer) and starts the episode, so the task's instruction is on the page before
anything is recorded. Nothing else about the pages changes.

API (``bench/miniwob.py`` and the solvers' check use only this):
- ``html_root()``: the suite's HTML directory (raises SystemExit naming the install command).
- ``serve()``: context manager, yields the base URL; ``task_url(base, task, seed)``.
- ``goal(page)``: the instruction the page shows; ``reward(page)``: the page's raw reward
  (None while the episode runs; > 0 means the task was done right).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.metadata
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["goal", "html_root", "reward", "serve", "task_url"]

_START = b"""<script>
window.addEventListener('load', function () {
  var seed = new URLSearchParams(location.search).get('seed');
  if (seed !== null) Math.seedrandom('traj-' + seed);
  core.EPISODE_MAX_TIME = 3600000;
  core.startEpisodeReal();
});
</script>
"""


def html_root() -> Path:
    """Where the installed ``miniwob`` package keeps its pages (without importing it: its
    ``__init__`` needs gymnasium and selenium, which only its own environment uses)."""
    try:
        root = Path(str(importlib.metadata.distribution("miniwob").locate_file("miniwob/html")))
    except importlib.metadata.PackageNotFoundError:
        root = None
    if root is None or not root.is_dir():
        raise SystemExit("error: the MiniWoB++ pages are not installed; run: pip install --no-deps miniwob")
    return root


@contextlib.contextmanager
def serve() -> Iterator[str]:
    """Serve the suite on 127.0.0.1 (quietly), each task page starting its episode; yields the base URL."""
    handler = functools.partial(_Handler, directory=str(html_root()))
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def task_url(base: str, task: str, seed: int) -> str:
    """The URL of ``task``'s instance ``seed``."""
    return f"{base}/miniwob/{task}.html?seed={seed}"


def goal(page: Page) -> str:
    """The instruction the task's page shows (its ``#query``), whitespace folded."""
    return " ".join(page.locator("#query").inner_text().split())


def reward(page: Page) -> float | None:
    """The page's raw reward for the episode, or None while it has not ended."""
    return page.evaluate("() => WOB_DONE_GLOBAL ? WOB_RAW_REWARD_GLOBAL : null")


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a browser that closes mid-response (a broken pipe) is no news


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if not (path.startswith("/miniwob/") and path.endswith(".html")):
            super().do_GET()
            return
        file = Path(self.directory) / path.lstrip("/")
        if not file.is_file():
            self.send_error(404)
            return
        body = file.read_bytes()
        at = body.rfind(b"</body>")
        body = body[:at] + _START + body[at:] if at >= 0 else body + _START
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass
