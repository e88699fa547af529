"""The adapters a policy holds by name and the active one: one set of checks and messages.

The ``transformers``, ``mlx`` and ``vllm`` backends each keep, per adapter name, what they
need to switch to it (a PEFT path, MLX weights, a served model name); this is the bookkeeping
around that, so every backend refuses a wrong name the same way.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from traj.errors import PolicyError

__all__ = ["LoadedAdapters"]

T = TypeVar("T")


class LoadedAdapters(Generic[T]):
    """Adapter name -> what its backend keeps for it, in load order, and the active name."""

    def __init__(self) -> None:
        self.by_name: dict[str, T] = {}
        self.active: str | None = None

    @property
    def names(self) -> list[str]:
        return list(self.by_name)

    def check_free(self, name: str) -> None:
        """PolicyError when an adapter is already loaded as ``name``."""
        if name in self.by_name:
            raise PolicyError(f"an adapter named {name!r} is already loaded; unload it first or pick another name")

    def require(self, name: str) -> T:
        """What was loaded as ``name``; PolicyError naming the loaded ones when nothing was."""
        if name not in self.by_name:
            raise PolicyError(f"no adapter named {name!r} is loaded (loaded: {', '.join(self.by_name) or 'none'})")
        return self.by_name[name]

    def add(self, name: str, value: T) -> None:
        self.by_name[name] = value

    def remove(self, name: str) -> T:
        """Forget ``name`` (PolicyError when it is not loaded); the caller deactivates it."""
        value = self.require(name)
        del self.by_name[name]
        return value
