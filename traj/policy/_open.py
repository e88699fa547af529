"""Opening a policy by backend name, as ``traj run --backend ... --model ... --adapter ...`` does.

Backends import lazily: opening an ``openai`` policy never imports torch, a ``transformers``
one never imports mlx.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from traj.errors import PolicyError

if TYPE_CHECKING:
    from traj.eventlog import Store
    from traj.policy._base import Policy

__all__ = ["BACKENDS", "Backend", "open_policy", "resolve_adapter"]

Backend = Literal["transformers", "mlx", "openai", "vllm", "remote"]
BACKENDS: tuple[str, ...] = get_args(Backend)


def open_policy(
    backend: str = "transformers",
    model: str | Path | None = None,
    *,
    adapter: str | None = None,
    store: Store | None = None,
    base_url: str | None = None,
    timeout_s: float = 60.0,
    task: str | None = None,
) -> Policy:
    """Open ``backend`` on ``model`` with ``adapter`` active.

    ``model`` for the local backends is a Hugging Face model directory (default: traj's tiny
    model, built and cached on first use); for ``openai`` a served model name; ignored by
    ``remote``, whose server has its own. ``adapter`` is an adapter directory or, with a
    ``store``, the name of an adapter recorded there (``adapter.created``); for the remote
    backends it is the served adapter's name. ``vllm`` takes it like the local backends and
    loads it onto the server as ``<task>-<adapter id>`` (``task`` defaults to the adapter's
    name), so the server must be able to read that directory. ``base_url`` is the endpoint of
    ``openai`` and ``vllm`` and the traj server of ``remote`` (default: ``$TRAJ_SERVER_URL``).
    """
    if backend not in BACKENDS:
        raise PolicyError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if backend in ("transformers", "mlx"):
        model_dir = Path(model) if model is not None else _tiny_model()
        if not (model_dir / "config.json").is_file():
            raise PolicyError(f"no model at {model_dir} (config.json is missing); give a model directory with --model")
        if backend == "transformers":
            from traj.policy._transformers import TransformersPolicy

            policy: Policy = TransformersPolicy(model_dir)
        else:
            from traj.policy._mlx import MlxPolicy

            policy = MlxPolicy(model_dir)
        if adapter is not None:
            name, path = resolve_adapter(adapter, store)
            policy.load_adapter(name, path)
        return policy
    if backend == "vllm":
        from traj.policy._vllm import VLLMPolicy

        policy = VLLMPolicy(None if model is None else str(model), base_url=base_url, timeout_s=timeout_s)
        if adapter is not None:
            name, path = resolve_adapter(adapter, store)
            policy.load_adapter(task or name, path)
        return policy
    if backend == "openai":
        from traj.policy._openai import OpenAIPolicy

        if model is None:
            raise PolicyError("the openai backend needs the served model's name (--model)")
        policy = OpenAIPolicy(str(model), base_url=base_url, timeout_s=timeout_s)
    else:
        from traj.policy._remote import RemotePolicy

        policy = RemotePolicy(base_url, timeout_s=timeout_s)
    if adapter is not None:
        policy.set_adapter(adapter)
    return policy


def resolve_adapter(adapter: str, store: Store | None, *, prefer: str = "peft") -> tuple[str, Path]:
    """``(name, directory)`` of an adapter given as a directory or as a name recorded in ``store``.

    A trained adapter is recorded in several formats; ``prefer`` picks one (``peft`` loads in
    every local backend, ``mlx`` only in mlx), else the latest recorded.
    """
    path = Path(adapter)
    if path.is_dir():
        return path.name, path
    if store is not None:
        from traj.eventlog import resolve_store_path
        from traj.projections import Projections

        with Projections(store) as projections:
            rows = projections.query(
                "SELECT path FROM adapters WHERE name = $name ORDER BY format = $prefer DESC, position DESC LIMIT 1",
                {"name": adapter, "prefer": prefer},
            ).to_pylist()
        if rows:
            # recorded relative to the store (or, by older versions, as an absolute path into it)
            found = resolve_store_path(store.home, rows[0]["path"]) if rows[0]["path"] else None
            if found is not None and found.is_dir():
                return adapter, found
            raise PolicyError(f"adapter {adapter!r} is recorded at {found or ''}, which no longer exists")
    raise PolicyError(f"no adapter {adapter!r}: not a directory, and no adapter of that name in the store")


def _tiny_model() -> Path:
    from traj.tiny import init_tiny

    return init_tiny()
