"""The one error the server's routes raise: it becomes a JSON answer of its status."""

from __future__ import annotations

__all__ = ["ApiError"]


class ApiError(Exception):
    """An error answer: status, one-line message and, for the OpenAI routes, its ``code``/``param``."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
