"""``traj serve``: the training and inference server; and the client side of ``traj train --remote``."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from traj.cli._common import HomeOption, console, reports_errors, resolve_home
from traj.cli._compute import CheckpointingOption, DeviceOption, DtypeOption, MicroBatchOption, QuantizeOption, compute

__all__ = ["serve", "train_on_server"]


@reports_errors
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback it needs $TRAJ_TOKEN (16+ characters).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: a free one, printed).")] = 8000,
    model: Annotated[Path | None, typer.Option(help="Base model directory (default: the tiny model).")] = None,
    backend: Annotated[str, typer.Option(help="torch (transformers + PEFT) or mlx: the policy served.")] = "torch",
    engine: Annotated[
        str, typer.Option(help="Inference in this process (local, with --backend) or on a vLLM server (vllm).")
    ] = "local",
    vllm_url: Annotated[
        str | None, typer.Option(help="--engine vllm: this server's OpenAI API (.../v1) instead of starting one.")
    ] = None,
    train_backend: Annotated[str, typer.Option(help="torch or mlx: the trainer (torch is faster on CPU).")] = "torch",
    max_upload_mb: Annotated[int, typer.Option(min=1, help="Largest demo bundle accepted (compressed).")] = 256,
    max_unpacked_mb: Annotated[int, typer.Option(min=1, help="Largest bundle after decompression.")] = 1024,
    queue: Annotated[int, typer.Option(min=1, help="Training jobs that may wait behind the running one.")] = 8,
    max_json_mb: Annotated[
        int, typer.Option(min=1, help="Largest JSON request body (uploads have the caps above).")
    ] = 16,
    max_new_tokens: Annotated[
        int, typer.Option(min=1, help="Most tokens one generation may ask for (and it must fit the model's context).")
    ] = 1024,
    model_name: Annotated[
        str | None,
        typer.Option(
            help="The base model's id in the OpenAI API (default: its directory's name); adapters: NAME:ADAPTER."
        ),
    ] = None,
    device: DeviceOption = "auto",
    dtype: DtypeOption = "auto",
    gradient_checkpointing: CheckpointingOption = False,
    micro_batch_size: MicroBatchOption = None,
    quantize: QuantizeOption = None,
    home: HomeOption = None,
) -> None:
    """Serve /act, uploads, training and adapters over HTTP; the token is read from $TRAJ_TOKEN.

    --device and the options after it say where --train-backend torch trains (default: this
    machine's GPU when it has one, in bfloat16 there); /health and /status/RUN report it.

    With a token every route (the API docs included) wants it, but an anonymous /health; it must
    be 16 or more printable characters.

    With --engine vllm, generation runs on a vLLM server (started here from .venv-vllm on
    --model, or the one at --vllm-url) and each adapter loaded or trained here is loaded there.
    """
    from traj.eventlog import Store
    from traj.policy import open_policy, start_vllm
    from traj.serve import ServeLimits, check_bind, check_token, create_app, serve_in_thread

    if backend not in ("torch", "mlx") or train_backend not in ("torch", "mlx"):
        raise typer.BadParameter("--backend and --train-backend are torch or mlx")
    if engine not in ("local", "vllm"):
        raise typer.BadParameter("--engine is local or vllm")
    if vllm_url is not None and engine != "vllm":
        raise typer.BadParameter("--vllm-url needs --engine vllm")
    train_compute = compute(device, dtype, gradient_checkpointing, micro_batch_size, quantize)
    token = os.environ.get("TRAJ_TOKEN") or None
    if token is not None:
        check_token(token)  # before minutes of model loading
    check_bind(host, token)
    limits = ServeLimits(
        max_upload_bytes=max_upload_mb << 20,
        max_unpacked_bytes=max_unpacked_mb << 20,
        max_queued=queue,
        max_json_bytes=max_json_mb << 20,
        max_new_tokens=max_new_tokens,
    )
    if model is None and vllm_url is None:
        from traj.tiny import init_tiny

        model = init_tiny()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a clean stop closes the store
    with contextlib.ExitStack() as stack:
        if engine == "vllm":
            vllm_base = vllm_url
            if vllm_base is None:
                log_path = Path(tempfile.mkstemp(prefix="traj-vllm-", suffix=".log")[1])
                console.print(f"traj serve: starting vLLM on {model} (log: {log_path})", highlight=False)
                vllm_base = stack.enter_context(start_vllm(model, log_path=log_path))  # type: ignore[arg-type]
            policy = open_policy("vllm", None if vllm_url else model, base_url=vllm_base)
            model = model or _local_model(policy.model_id)
            label = f"vllm at {vllm_base}"
        else:
            policy = open_policy("transformers" if backend == "torch" else "mlx", model)
            label = backend
        store = stack.enter_context(Store.open(resolve_home(home)))
        app = create_app(
            policy,
            token=token,
            store=store,
            model_dir=model,
            train_backend=train_backend,
            train_compute=train_compute,
            limits=limits,
            load_trained=engine == "vllm",
            model_name=model_name,
        )
        url = stack.enter_context(serve_in_thread(app, host, port, log_level="warning"))
        console.print(f"traj serve: listening on {url} ({label}, {model})", highlight=False)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: leave the blocks, close the store
            stop.wait()
    console.print("traj serve: stopped")


def _local_model(served: str) -> Path:
    """The base model to train on beside a given vLLM server: its model's directory, else the tiny model."""
    if (Path(served) / "config.json").is_file():
        return Path(served)
    from traj.tiny import init_tiny

    return init_tiny()


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
    from traj.serve import train_remote

    with Store.open(resolve_home(home)) as store:
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
                demo_ids=demo_ids,
                task=task,
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
