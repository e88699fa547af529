"""Running an app with uvicorn in a background thread: for tests, and for ``traj serve`` beside other work."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from traj.errors import ServerError
from traj.serve._limits import check_bind

__all__ = ["serve_in_thread"]


@contextlib.contextmanager
def serve_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    log_level: str = "warning",
    startup_timeout_s: float = 30.0,
    shutdown_timeout_s: float = 5.0,
) -> Iterator[str]:
    """Serve ``app`` on ``host:port`` (``port=0``: a free one) until the block ends; yields the base URL.

    Returns from ``__enter__`` only once the server accepts connections. On exit, requests
    still running get ``shutdown_timeout_s`` to finish before they are cancelled, but
    generations stop at once: an app with ``app.state.stopping`` (traj's) has it set first, so
    a long one cannot hold the shutdown. Refuses (ServerError) to listen beyond loopback unless
    the app was made with a strong token.
    """
    import uvicorn

    check_bind(host, getattr(getattr(app, "state", None), "token", None))

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))  # bound here, so the port is known before uvicorn starts
    except OSError as exc:
        sock.close()
        raise ServerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level=log_level,
        timeout_graceful_shutdown=max(1, round(shutdown_timeout_s)),
        lifespan="auto",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise ServerError(f"the server on {host}:{bound_port} failed to start (see its log)")
        if time.monotonic() > deadline:
            server.should_exit = True
            thread.join(shutdown_timeout_s)
            sock.close()
            raise ServerError(f"the server on {host}:{bound_port} did not start within {startup_timeout_s:g} s")
        time.sleep(0.01)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    try:
        yield f"http://{shown}:{bound_port}"
    finally:
        stopping = getattr(getattr(app, "state", None), "stopping", None)
        if stopping is not None:
            stopping.set()
        server.should_exit = True
        thread.join(shutdown_timeout_s + 5)
        sock.close()
