"""What the server accepts: size limits, the queue's depth, safe names, Unicode text, tokens, and who may bind where."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from traj.errors import ServerError

__all__ = [
    "MIN_TOKEN_LENGTH",
    "NAME_PATTERN",
    "ServeLimits",
    "Text",
    "check_bind",
    "check_token",
    "is_loopback",
    "unicode_only",
]

T = TypeVar("T")

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""Adapter, run and dataset names: they become directory and file names, so no ``/``, no ``..``."""


@dataclass(frozen=True)
class ServeLimits:
    """Caps on what one request may make the server store, unpack or queue."""

    max_upload_bytes: int = 256 << 20
    """A demo bundle as uploaded (compressed); larger gets 413."""
    max_unpacked_bytes: int = 1 << 30
    """A bundle after decompression (the decompression-bomb cap); larger gets 413."""
    max_members: int = 200_000
    """Files in one bundle."""
    max_dataset_bytes: int = 64 << 20
    """A JSONL dataset for the local-trainer contract."""
    max_queued: int = 8
    """Training jobs waiting behind the running one; one more gets 409."""
    max_steps: int = 100_000
    """Optimizer steps one job may ask for."""
    max_json_bytes: int = 16 << 20
    """A JSON request body (every route but the two uploads above, which have their own caps); larger gets 413."""
    max_new_tokens: int = 1024
    """Tokens one generation may ask for; the prompt and its new tokens must also fit the model's context."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or value < 1:
                raise ServerError(f"limit {name} must be a positive integer, got {value!r}")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose a server without a strong token: anything but loopback needs ``TRAJ_TOKEN``."""
    if is_loopback(host):
        return
    if not token:
        raise ServerError(
            f"refusing to listen on {host} without a token: set TRAJ_TOKEN (clients send it as a bearer "
            "token), or bind to 127.0.0.1"
        )
    check_token(token)


MIN_TOKEN_LENGTH = 16
"""Characters a bearer token needs: a token is all that stands between the network and the server."""


def check_token(token: str) -> None:
    """Refuse a token anyone could guess or no client could send: too short, padded or not printable ASCII.

    A header value loses its surrounding whitespace on the way, and only printable ASCII travels in
    one unchanged: any other token could never be sent as it was set.
    """
    if token != token.strip() or not (token.isascii() and token.isprintable()):
        raise ServerError("TRAJ_TOKEN must be printable ASCII without spaces around it")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ServerError(
            f"TRAJ_TOKEN is {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe(32))")'
        )


def unicode_only(value: T) -> T:
    """``value`` (JSON lists and objects) if all its strings are Unicode text, else a validation error.

    JSON's ``\\udc00`` escape decodes to a lone surrogate: a Python string no tokenizer, event or
    answer can encode, so it would fail (500) wherever it went next. Pydantic only notices one
    where a constraint (a length, a pattern) makes it read the string, never inside ``Any``.
    """
    for text in _strings(value):
        try:
            text.encode()
        except UnicodeEncodeError as exc:
            where = f"U+{ord(text[exc.start]):04X} at character {exc.start}"
            raise PydanticCustomError(
                "lone_surrogate", f"holds a lone surrogate ({where}), which is not Unicode text"
            ) from None
    return value


Text = Annotated[str, AfterValidator(unicode_only)]
"""A request's string that must be Unicode text (see :func:`unicode_only`)."""


def _strings(value: Any) -> Iterator[str]:
    """Every string in ``value``, keys of objects included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
