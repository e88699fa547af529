"""What the server accepts: size limits, the queue's depth, safe names, and who may bind where."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from traj.errors import ServerError

__all__ = ["NAME_PATTERN", "ServeLimits", "check_bind", "is_loopback"]

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
    """Refuse to expose a server without a token: anything but loopback needs ``TRAJ_TOKEN``."""
    if not token and not is_loopback(host):
        raise ServerError(
            f"refusing to listen on {host} without a token: set TRAJ_TOKEN (clients send it as a bearer "
            "token), or bind to 127.0.0.1"
        )
