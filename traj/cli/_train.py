"""``traj train``: SDFT (or SFT) of a LoRA adapter on recorded demonstrations, or DPO on judged runs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from traj.cli._common import HomeOption, JsonOption, console, err_console, print_json, reports_errors, resolve_home
from traj.cli._compute import CheckpointingOption, DeviceOption, DtypeOption, MicroBatchOption, QuantizeOption, compute
from traj.cli._progress import StepProgress

if TYPE_CHECKING:
    from traj.train import TrainResult

__all__ = ["train"]


@reports_errors
def train(
    task: Annotated[str | None, typer.Argument(help="Train on every demonstration of this task.")] = None,
    demo: Annotated[list[str] | None, typer.Option("--demo", help="A demo id (repeatable) instead of a task.")] = None,
    objective: Annotated[
        str, typer.Option(help="sdft (self-distillation), sft (the baseline) or dpo (corrected runs).")
    ] = "sdft",
    backend: Annotated[str, typer.Option(help="torch (PEFT) or mlx (mlx-lm); both save both formats.")] = "torch",
    model: Annotated[Path | None, typer.Option(help="Base model directory (default: the tiny model).")] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Optimizer steps (overrides --epochs).")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the examples.")] = 2,
    batch_size: Annotated[int, typer.Option(min=1, help="Examples per step.")] = 4,
    learning_rate: Annotated[float, typer.Option("--lr", help="Peak learning rate (cosine, warmup).")] = 1e-5,
    rank: Annotated[int, typer.Option(min=1, help="LoRA rank.")] = 16,
    ema_alpha: Annotated[
        float,
        typer.Option(help="Teacher EMA rate; 0.1-0.3 for 5-10 demonstrations, 0 keeps the teacher at the base model."),
    ] = 0.02,
    divergence: Annotated[str, typer.Option(help="forward, reverse or jsd.")] = "forward",
    beta: Annotated[float, typer.Option(help="dpo: how far the adapter may move from the base model.")] = 0.1,
    unverified: Annotated[bool, typer.Option(help="Also learn steps no replay has verified.")] = False,
    teacher_layout: Annotated[
        str,
        typer.Option(
            help="sdft: the teacher reads the demonstration after the rules (rules) or after the whole "
            "prompt (appended: TRL's SDFTTrainer teacher)."
        ),
    ] = "rules",
    constrain: Annotated[
        bool,
        typer.Option(
            "--constrain/--no-constrain",
            help="sdft: sample the student's rollouts under the page's action constraint, as the agent "
            "decodes, and take the divergence over the allowed tokens (default on).",
        ),
    ] = True,
    name: Annotated[str | None, typer.Option(help="Adapter name (default: TASK-<job>).")] = None,
    start_from: Annotated[
        str | None,
        typer.Option(
            help="Continue from a trained adapter (a name from 'traj adapters list', or a directory) "
            "instead of zero: learn this task on top of another. Same rank needed."
        ),
    ] = None,
    checkpoint_every: Annotated[
        int, typer.Option(min=0, help="Write a resumable checkpoint every N steps (0: never).")
    ] = 50,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Continue a stopped job from its last checkpoint: a job id, or 'latest' (of TASK); "
            "its recorded settings and examples are used."
        ),
    ] = None,
    remote: Annotated[
        str | None, typer.Option(help="Train on a traj server at this URL (token: $TRAJ_SERVER_TOKEN).")
    ] = None,
    device: DeviceOption = "auto",
    dtype: DtypeOption = "auto",
    gradient_checkpointing: CheckpointingOption = False,
    micro_batch_size: MicroBatchOption = None,
    quantize: QuantizeOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a LoRA adapter on demonstrations; prints KL per step and where the adapter is.

    Under torchrun (torchrun --nproc-per-node N -m traj train ...) it trains data-parallel:
    --batch-size rows per process, rank 0 records the job.

    Off a terminal (piped, nohup) progress is a plain line every 10 seconds. Ctrl+C records
    the job as cancelled and prints how to resume it.
    """
    from traj.errors import TrainingError
    from traj.eventlog import Store
    from traj.train import checked_settings, train_config, training_examples
    from traj.train import train as run_training

    if backend not in ("torch", "mlx"):
        raise TrainingError(f"--backend {backend}: use torch or mlx")
    if objective not in ("sdft", "sft", "dpo") or divergence not in ("reverse", "forward", "jsd"):
        raise typer.BadParameter("--objective is sdft, sft or dpo; --divergence is reverse, forward or jsd")
    if task is None and not demo and objective != "dpo" and resume is None:
        raise typer.BadParameter("name a TASK or give --demo ID")
    if start_from is not None and (remote is not None or resume is not None):
        raise typer.BadParameter("--start-from trains here from the start: not with --remote or --resume")
    settings = checked_settings(
        steps=steps,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        rank=rank,
        ema_alpha=ema_alpha,
        divergence=divergence,
        beta=beta,
        teacher_layout=teacher_layout,
        constrain=constrain,
    )
    placed = compute(device, dtype, gradient_checkpointing, micro_batch_size, quantize)
    config = train_config(settings, objective, checkpoint_every=checkpoint_every, compute=placed)  # type: ignore[arg-type]
    if remote is not None:
        import msgspec

        from traj.train import ComputeSettings

        if placed != ComputeSettings():
            raise typer.BadParameter("--remote trains where the server's own --device and --dtype say")
        from traj.cli._serve import train_on_server

        hyper = {"objective": objective} | msgspec.to_builtins(settings)
        train_on_server(
            remote,
            home=home,
            task=task,
            demo_ids=demo or [],
            hyperparameters=hyper | {"unverified": unverified},
            name=name,
            model=model,
        )
        return
    if resume is not None:
        with Store.open(resolve_home(home), create=False) as store, _resume_hint(task):
            from traj.train import resume as resume_training

            result = resume_training(store, None if resume == "latest" else resume, task=task)
        _report(result, task, as_json)
        return
    if model is None:
        from traj.tiny import init_tiny

        model = init_tiny()
    # under a launcher only rank 0 writes; the others read the same examples
    with Store.open(resolve_home(home), create=False, readonly=int(os.environ.get("RANK", "0")) > 0) as store:
        if objective == "dpo":
            from traj.train import preference_examples

            examples = preference_examples(store, task=task)
        else:
            examples = training_examples(
                store,
                task=task,
                demo_ids=demo,
                verified_only=not unverified,
                model=model,
                teacher_layout=settings.teacher_layout or "rules",
            )
        from traj.train import batches

        total = len(batches(examples, config, processes=int(os.environ.get("WORLD_SIZE", "1"))))
        title = f"{objective} on {len(examples)} decisions"
        with (
            StepProgress(err_console if as_json else console, title, total, _step_line) as progress,
            _resume_hint(task),
        ):
            result = run_training(
                store,
                examples,
                model_dir=model,
                config=config,
                name=name,
                task=task,
                backend=backend,
                start_from=start_from,
                on_step=lambda m: progress.advance(loss=m.loss, kl=m.kl, tps=m.tokens_per_s),
            )
    _report(result, task, as_json)


def _step_line(fields: dict[str, float]) -> str:
    return f"loss {fields['loss']:.4f}  KL {fields['kl']:.4f}  {fields['tps']:.0f} tok/s"


@contextlib.contextmanager
def _resume_hint(task: str | None) -> Iterator[None]:
    """On Ctrl+C (the job is then recorded as cancelled): how to continue it, and exit status 130."""
    try:
        yield
    except KeyboardInterrupt:
        again = f"traj train {task} --resume latest" if task else "traj train --resume latest"
        err_console.print(
            f"interrupted: the job is recorded as cancelled; continue it from its last checkpoint with: {again}",
            highlight=False,
        )
        raise typer.Exit(130) from None


def _report(result: TrainResult, task: str | None, as_json: bool) -> None:
    """The step-0 diagnosis (and its warning), where the adapter is, and what to run next."""
    if as_json:
        print_json(result)
        return
    if result.diagnosis is not None:
        d = result.diagnosis
        console.print(
            f"step 0: KL {d.kl:.4f}; {d.accuracy_text()}; {d.enriched_share:.0%} of steps enriched",
            highlight=False,
        )
        if (warning := d.warning()) is not None:
            err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(f"adapter {result.adapter}: {result.peft_path} (PEFT), {result.mlx_path} (mlx-lm)", highlight=False)
    console.print(f"  traj run --task {task or 'TASK'} --adapter {result.adapter}")
    console.print(
        f"  traj query \"SELECT step, loss, kl, tokens_per_s FROM kl_metrics WHERE job_id = '{result.job_id}'\""
    )
