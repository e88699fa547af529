"""The server's door: a request's token is checked on its headers, and its body capped, before a route reads a byte.

A pure ASGI middleware rather than a FastAPI dependency: FastAPI reads and parses a route's
body before it runs the route's dependencies, so an anonymous client could make the server
take in (and parse) any amount of JSON before its 401. The cap is the same for every route that
takes JSON; the upload routes stream their bodies to disk under caps of their own.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from traj.serve._errors import ApiError, error_body

__all__ = ["RequestGate"]


class RequestGate:
    """Answers 401 to a request without the token and 413 to a body over ``max_body_bytes``, reading no body to do so.

    ``open_paths`` answer without a token too: the route sees ``request.state.authorized`` False
    (``/health`` then only says it is alive). ``own_caps`` are path prefixes whose routes cap their
    bodies themselves (uploads). A refusal closes the connection, so the body left unread is never read.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        max_body_bytes: int,
        open_paths: frozenset[str] = frozenset(),
        own_caps: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.token = token
        self.max_body_bytes = max_body_bytes
        self.open_paths = open_paths
        self.own_caps = own_caps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = Headers(scope=scope)
        authorized = self.token is None or hmac.compare_digest(_bearer(headers), self.token.encode())
        if not authorized and not (path in self.open_paths and "authorization" not in headers):
            error = ApiError(
                401, "missing or wrong bearer token (send Authorization: Bearer <token>)", code="invalid_api_key"
            )
            await _refuse(send, path, error)
            return
        scope.setdefault("state", {})["authorized"] = authorized
        if path.startswith(self.own_caps):
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await _refuse(send, path, self._too_large(f"is {declared} bytes"))
            return
        await self._capped(scope, receive, send)

    async def _capped(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, counting the body as it streams: past the cap, answer 413 and tell the app the client left."""
        path: str = scope["path"]
        received = 0
        started = refused = False

        async def receive_capped() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    refused = True
                    if not started:
                        await _refuse(send, path, self._too_large(f"is over {self.max_body_bytes} bytes"))
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_refused(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the app's answer to the "disconnect": the client has its 413 already
            started = True
            await send(message)

        await self.app(scope, receive_capped, send_unless_refused)

    def _too_large(self, size: str) -> ApiError:
        return ApiError(
            413,
            f"the request body {size}; this server takes at most {self.max_body_bytes} bytes of JSON (--max-json-mb)",
        )


def _bearer(headers: Headers) -> bytes:
    """The token of an ``Authorization: Bearer <token>`` header; empty without one."""
    scheme, _, given = headers.get("authorization", "").partition(" ")
    return given.strip().encode() if scheme.lower() == "bearer" else b""


async def _refuse(send: Send, path: str, error: ApiError) -> None:
    """Answer ``error`` in the shape of the route at ``path`` and close the connection."""
    body = json.dumps(error_body(path, error)).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if error.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    start: dict[str, Any] = {"type": "http.response.start", "status": error.status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
