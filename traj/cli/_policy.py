"""The policy options ``traj run`` and ``traj replay`` share, and opening the policy they name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from traj.eventlog import Store
    from traj.policy import Policy

__all__ = ["AdapterOption", "BaseUrlOption", "MaxModelStepsOption", "ModelOption", "open_task_policy"]

ModelOption = Annotated[
    str | None, typer.Option(help="Model directory (local backends; default: the tiny model) or served name.")
]
AdapterOption = Annotated[
    str | None, typer.Option(help="Adapter directory or name in the store (default: the task's specialist).")
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option("--base-url", "--server-url", help="Endpoint of openai or vllm / the traj server of remote."),
]
MaxModelStepsOption = Annotated[
    int, typer.Option(help="Steps of a workflow the model may take when its demonstration cannot (2 tries each).")
]


def open_task_policy(
    store: Store,
    task: str,
    *,
    backend: str,
    model: str | None,
    adapter: str | None,
    base_url: str | None,
    out: Console,
) -> Policy:
    """Open ``backend`` on ``model`` with ``adapter``, else the task's registered specialist (saying which)."""
    from traj.policy import open_policy
    from traj.specialists import choose_adapter

    choice = choose_adapter(store, task, adapter=adapter, backend=backend, model=model)
    out.print(choice.reason, highlight=False)
    with out.status(f"loading the {backend} policy"):
        return open_policy(
            backend,
            Path(model) if model and backend in ("transformers", "mlx") else model,
            adapter=choice.adapter,
            store=store,
            base_url=base_url,
            task=task,
        )
