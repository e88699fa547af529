"""``traj serve``: the training and inference server; and the client side of ``traj train --remote``."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from traj.cli._common import HomeOption, console, reports_errors, resolve_home

__all__ = ["serve", "train_on_server"]


@reports_errors
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback it needs $TRAJ_TOKEN.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: a free one, printed).")] = 8000,
    model: Annotated[Path | None, typer.Option(help="Base model directory (default: the tiny model).")] = None,
    backend: Annotated[str, typer.Option(help="torch (transformers + PEFT) or mlx: the policy served.")] = "torch",
    train_backend: Annotated[str, typer.Option(help="torch or mlx: the trainer (torch is faster on CPU).")] = "torch",
    max_upload_mb: Annotated[int, typer.Option(min=1, help="Largest demo bundle accepted (compressed).")] = 256,
    max_unpacked_mb: Annotated[int, typer.Option(min=1, help="Largest bundle after decompression.")] = 1024,
    queue: Annotated[int, typer.Option(min=1, help="Training jobs that may wait behind the running one.")] = 8,
    home: HomeOption = None,
) -> None:
    """Serve /act, uploads, training and adapters over HTTP; the token is read from $TRAJ_TOKEN."""
    from traj.eventlog import Store
    from traj.policy import open_policy
    from traj.serve import ServeLimits, check_bind, create_app, serve_in_thread

    if backend not in ("torch", "mlx") or train_backend not in ("torch", "mlx"):
        raise typer.BadParameter("--backend and --train-backend are torch or mlx")
    token = os.environ.get("TRAJ_TOKEN") or None
    check_bind(host, token)  # before minutes of model loading
    limits = ServeLimits(
        max_upload_bytes=max_upload_mb << 20, max_unpacked_bytes=max_unpacked_mb << 20, max_queued=queue
    )
    if model is None:
        from traj.train.tiny import init_tiny

        model = init_tiny()
    policy = open_policy("transformers" if backend == "torch" else "mlx", model)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a clean stop closes the store
    with Store.open(resolve_home(home)) as store:
        app = create_app(policy, token=token, store=store, model_dir=model, train_backend=train_backend, limits=limits)
        with serve_in_thread(app, host, port, log_level="warning") as url:
            console.print(f"traj serve: listening on {url} ({backend}, {model})", highlight=False)
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: leave the blocks, close the store
                stop.wait()
    console.print("traj serve: stopped")


def train_on_server(
    url: str,
    *,
    home: Path | None,
    task: str | None,
    demo_ids: list[str],
    hyperparameters: dict[str, Any],
    name: str | None,
    model: Path | None,
) -> None:
    """``traj train --remote``: upload, train there with a progress bar, download and register the adapter."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from traj.eventlog import Store
    from traj.serve._client import train_remote

    with Store.open(resolve_home(home)) as store:
        demos = list(demo_ids) + (_task_demos(store, task) if task else [])
        columns = [
            TextColumn(f"training on {url}"),
            BarColumn(),
            TextColumn("{task.fields[state]} step {task.completed}/{task.total}  loss {task.fields[loss]}"),
            TimeElapsedColumn(),
        ]
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task("remote", total=None, state="uploading", loss="-")

            def show(state: dict[str, Any]) -> None:
                loss = "-" if state.get("loss") is None else f"{state['loss']:.4f}"
                total = state.get("steps_total") or None
                progress.update(bar, completed=state["steps_done"], total=total, state=state["status"], loss=loss)

            result = train_remote(
                store,
                url,
                demo_ids=demos,
                hyperparameters=hyperparameters,
                name=name,
                local_model=model,
                on_progress=show,
            )
    console.print(
        f"adapter {result.adapter} (remote run {result.run_id}, job {result.job_id}): "
        f"{result.peft_path} (PEFT), {result.mlx_path} (mlx-lm)",
        highlight=False,
    )
    console.print(f"  traj run --task {task or 'TASK'} --backend mlx --adapter {result.adapter}")


def _task_demos(store: Any, task: str) -> list[str]:
    from traj.errors import TrainingError
    from traj.projections import Projections

    with Projections(store) as projections:
        rows = projections.query("SELECT demo_id FROM demos WHERE task = $task", {"task": task}).to_pylist()
    if not rows:
        raise TrainingError(f"no demonstrations of task {task!r} in {store.home} (see 'traj demos')")
    return [r["demo_id"] for r in rows]
