"""The one error the server's routes raise, and the JSON shape every error answer takes."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "error_body"]


class ApiError(Exception):
    """An error answer: status, one-line message and, for the OpenAI routes, its ``code``/``param``."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param


def error_body(path: str, error: ApiError) -> dict[str, Any]:
    """``error`` as the route at ``path`` answers it: OpenAI's shape under ``/v1/`` (its clients read
    ``{"error": {"message", "type", "param", "code"}}``), ``{"detail": message}`` elsewhere.

    One function for the routes and for the request gate, which answers before any route runs.
    """
    if not path.startswith("/v1/"):
        return {"detail": error.message}
    kind = "server_error" if error.status >= 500 else "invalid_request_error"
    if error.status == 429:
        kind = "rate_limit_error"
    return {"error": {"message": error.message, "type": kind, "param": error.param, "code": error.code}}
