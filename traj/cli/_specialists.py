"""``traj specialists``: improvement jobs scoped to a task or an agent, and the task's specialists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from traj.cli._common import HomeOption, JsonOption, console, print_json, reports_errors, resolve_home
from traj.cli._compute import CheckpointingOption, DeviceOption, DtypeOption, MicroBatchOption, QuantizeOption, compute

if TYPE_CHECKING:
    from traj.specialists import ImprovementJob

__all__ = ["specialists_app"]

specialists_app = typer.Typer(
    help="Improvement jobs that train a task's (or an agent's) adapter, and the registered specialists.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="The improvement job's name (letters, digits, ._:-).")]
Objective = Annotated[str | None, typer.Option(help="sdft, sft or dpo (default on create: sdft).", show_default=False)]
Steps = Annotated[int | None, typer.Option(help="Optimizer steps (overrides --epochs).", show_default=False)]
Epochs = Annotated[int | None, typer.Option(help="Passes over the examples.", show_default=False)]
BatchSize = Annotated[int | None, typer.Option(help="Examples per step.", show_default=False)]
LearningRate = Annotated[float | None, typer.Option("--lr", help="Peak learning rate.", show_default=False)]
Rank = Annotated[int | None, typer.Option(help="LoRA rank.", show_default=False)]
EmaAlpha = Annotated[float | None, typer.Option(help="Teacher EMA rate.", show_default=False)]
Divergence = Annotated[str | None, typer.Option(help="reverse, forward or jsd.", show_default=False)]
Beta = Annotated[float | None, typer.Option(help="dpo: the KL penalty's weight.", show_default=False)]
Backend = Annotated[str | None, typer.Option(help="torch or mlx.", show_default=False)]
Unverified = Annotated[
    bool | None,
    typer.Option("--unverified/--verified-only", help="Also learn steps no replay verified.", show_default=False),
]
Model = Annotated[str | None, typer.Option(help="Base model directory (default: the tiny model).", show_default=False)]
Note = Annotated[str | None, typer.Option(help="Why this job exists, in words.", show_default=False)]


@specialists_app.command()
@reports_errors
def create(
    name: Name,
    task: Annotated[str | None, typer.Option(help="Scope: this task's demonstrations / judged runs.")] = None,
    agent: Annotated[str | None, typer.Option(help="Scope: an agent, trained on every task's data.")] = None,
    objective: Objective = None,
    steps: Steps = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    learning_rate: LearningRate = None,
    rank: Rank = None,
    ema_alpha: EmaAlpha = None,
    divergence: Divergence = None,
    beta: Beta = None,
    backend: Backend = None,
    unverified: Unverified = None,
    model: Model = None,
    note: Note = None,
    home: HomeOption = None,
) -> None:
    """Define an improvement job for a task (--task) or an agent (--agent)."""
    from traj.eventlog import Store
    from traj.specialists import create_job

    settings = _settings(locals())
    with Store.open(resolve_home(home)) as store:
        job = create_job(
            store,
            name,
            task=task,
            agent=agent,
            objective=objective or "sdft",  # type: ignore[arg-type]
            settings=settings,
            note=note or "",
        )
    console.print(f"improvement job {job.name}: {_describe(job)}", highlight=False)
    console.print(f"  traj specialists run {job.name} --register")


@specialists_app.command()
@reports_errors
def update(
    name: Name,
    objective: Objective = None,
    steps: Steps = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    learning_rate: LearningRate = None,
    rank: Rank = None,
    ema_alpha: EmaAlpha = None,
    divergence: Divergence = None,
    beta: Beta = None,
    backend: Backend = None,
    unverified: Unverified = None,
    model: Model = None,
    note: Note = None,
    reset: Annotated[
        list[str] | None, typer.Option(help="A setting back to its default (repeatable), e.g. --reset steps.")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Change an improvement job's objective, settings or note (the next run uses them)."""
    from traj.eventlog import Store
    from traj.specialists import update_job

    settings: dict[str, Any] = _settings(locals()) | dict.fromkeys(reset or [])
    with Store.open(resolve_home(home)) as store:
        job = update_job(store, name, objective=objective, settings=settings, note=note)  # type: ignore[arg-type]
    console.print(f"improvement job {job.name}: {_describe(job)}", highlight=False)


@specialists_app.command(name="list")
@reports_errors
def list_jobs(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Improvement jobs (scope, objective, settings, runs, latest adapter) and each task's specialist."""
    from rich.table import Table

    from traj.eventlog import Store
    from traj.specialists import list_jobs as jobs_in
    from traj.specialists import specialists

    with Store.open(resolve_home(home), readonly=True) as store:
        jobs = jobs_in(store)
        current = specialists(store)
    if as_json:
        print_json({"jobs": jobs, "specialists": current})
        return
    if not jobs:
        console.print("no improvement jobs yet (see 'traj specialists create')")
    else:
        table = Table(header_style="bold")
        table.add_column("job", no_wrap=True, min_width=max(len(job.name) for job in jobs))
        for column in ("scope", "objective", "settings", "runs", "latest adapter", "note"):
            table.add_column(column)
        for job in jobs:
            settings = " ".join(f"{k}={v}" for k, v in sorted(job.settings.items()))
            table.add_row(
                job.name,
                f"{job.scope} {job.target}",
                job.objective,
                settings,
                str(job.runs),
                job.last_adapter or "",
                job.note,
            )
        console.print(table)
    if current:
        console.print("specialists: " + ", ".join(f"{t} -> {a}" for t, a in sorted(current.items())), highlight=False)


@specialists_app.command(name="run")
@reports_errors
def run_job(
    name: Name,
    register: Annotated[bool, typer.Option(help="Make the new adapter its task's specialist.")] = False,
    device: DeviceOption = "auto",
    dtype: DtypeOption = "auto",
    gradient_checkpointing: CheckpointingOption = False,
    micro_batch_size: MicroBatchOption = None,
    quantize: QuantizeOption = None,
    home: HomeOption = None,
) -> None:
    """Train the job's next adapter (an ordinary training job with lineage), optionally registering it."""
    from traj.eventlog import Store
    from traj.specialists import run_job as run

    placed = compute(device, dtype, gradient_checkpointing, micro_batch_size, quantize)
    with Store.open(resolve_home(home)) as store, console.status(f"training improvement job {name}"):
        done = run(store, name, register=register, compute=placed)
    last = done.result.steps[-1] if done.result.steps else None
    loss = f", final loss {last.loss:.4f}" if last else ""
    parent = f" (parent {done.parent})" if done.parent else ""
    console.print(f"job {name}: adapter {done.result.adapter}{parent}, {len(done.result.steps)} steps{loss}")
    if done.registered is not None:
        console.print(f"  registered as the specialist of task {done.registered.task}", highlight=False)
    elif done.job.scope == "task":
        console.print(f"  traj adapters register {done.result.adapter} --task {done.job.target}")


def _settings(options: dict[str, Any]) -> dict[str, Any]:
    """The job settings among a command's options (those given)."""
    from traj.specialists import JobSettings

    return {k: options[k] for k in JobSettings.__struct_fields__ if options.get(k) is not None}


def _describe(job: ImprovementJob) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in sorted(job.settings.items())) or "default settings"
    return f"{job.objective} for {job.scope} {job.target!r} ({settings})"
