"""Serving the bundled demo sites from the package's ``static/`` folder on 127.0.0.1.

A stdlib threaded HTTP server is enough: the sites are static files and every bit of
state lives in the browser (localStorage), so the server holds nothing and any number of
browsers can share it.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from traj.errors import TrajError

__all__ = ["STATIC_DIR", "SiteServer", "serve_sites"]

STATIC_DIR = Path(__file__).parent / "static"
"""Where the sites' HTML, CSS and JavaScript live inside the installed package."""


class _SiteHandler(SimpleHTTPRequestHandler):
    """Static files only: no directory listings, no caching, no per-request log lines."""

    extensions_map = {  # noqa: RUF012 - the stdlib declares it as a class attribute
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".css": "text/css",
        ".html": "text/html; charset=utf-8",
        ".svg": "image/svg+xml",
    }

    def list_directory(self, path: str | Path) -> None:
        # A folder without index.html is not a page of any site.
        self.send_error(404, "Not Found")

    def end_headers(self) -> None:
        # Edited sites must show at once, and a demo never runs on a stale script.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that drops a connection mid-response is normal, not worth a traceback.
        pass


class SiteServer:
    """The demo sites listening on ``host:port`` (port 0 picks a free one); ``url`` is the base URL.

    Binding happens in the constructor, so ``url`` names the real port at once. ``start()``
    serves from a background thread (what ``serve_sites`` does); ``serve_forever()`` blocks
    the caller until ``close()`` or Ctrl+C. Use it as a context manager to close it.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, root: Path = STATIC_DIR) -> None:
        handler = functools.partial(_SiteHandler, directory=str(root))
        try:
            self._httpd = _QuietServer((host, port), handler)
        except OSError as exc:
            raise TrajError(f"cannot serve the demo sites on {host}:{port}: {exc.strerror or exc}") from None
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None
        self._closed = False
        self._serving_here = False

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:8765``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> SiteServer:
        """Serve from a daemon thread and return at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="traj-sites", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (or wait for the background one) until closed or interrupted."""
        try:
            if self._thread is None:
                self._serving_here = True
                try:
                    self._httpd.serve_forever()
                finally:
                    self._serving_here = False
            else:
                while self._thread.is_alive():
                    self._thread.join(0.5)
        finally:
            self.close()

    def close(self) -> None:
        """Stop serving and release the port; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        # shutdown() waits for a running serve loop to stop; with none running it would hang.
        if self._thread is not None or self._serving_here:
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join()
        self._httpd.server_close()

    def __enter__(self) -> SiteServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SiteServer({self.url!r})"


def serve_sites(host: str = "127.0.0.1", port: int = 0) -> SiteServer:
    """Start serving the demo sites in a background thread; close the returned server when done.

    ``with serve_sites() as server: page.goto(server.url + "/calendar/?seed=1")``
    """
    return SiteServer(host, port).start()
