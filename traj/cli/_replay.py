"""``traj replay``: re-execute a recorded demonstration and report every step."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from traj.cli._common import (
    HomeOption,
    JsonOption,
    console,
    parse_assignments,
    print_json,
    reports_errors,
    require,
    resolve_home,
    secret_source,
)

if TYPE_CHECKING:
    from traj.eventlog import Store
    from traj.policy import Policy

__all__ = ["evaluate", "replay"]

_STATUS = {"ok": "[green]ok[/]", "healed": "[yellow]healed[/]", "failed": "[red]failed[/]"}


@reports_errors
def replay(
    demo: Annotated[str, typer.Argument(help="The demo id (see 'traj demos').")],
    seed: Annotated[int | None, typer.Option(help="Replay on another seed of a bundled site.")] = None,
    url: Annotated[str | None, typer.Option(help="Start here instead of the recorded URL.")] = None,
    goal: Annotated[
        str | None,
        typer.Option(
            help="The new instance's goal: the demo's variables are bound from it (default: the page's goal)."
        ),
    ] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="name=value for a demo variable (see 'traj demos vars DEMO').")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="A policy to fill the variables of a goal worded unlike the demo's: transformers, mlx, ..."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="--backend's model directory (default: the tiny model) or served name.")
    ] = None,
    adapter: Annotated[str | None, typer.Option(help="--backend's adapter directory or name in the store.")] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="--backend's endpoint (openai, vllm, remote).")
    ] = None,
    heal: Annotated[bool, typer.Option("--heal/--no-heal", help="Write healed locators back to the demo.")] = True,
    headless: Annotated[bool | None, typer.Option("--headless/--headed")] = None,
    slow_mo: Annotated[float, typer.Option("--slow-mo", help="Milliseconds between browser operations.")] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds a step may wait for its element.")] = 10.0,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay a demonstration step by step; exit 1 unless every step ran and the task succeeded.

    The values the demo's goal names (its variables) are bound from --goal, worded like the
    demo's goal (else a --backend fills them); --var overrides, and an unknown name is an error.
    Secrets the demo typed come from TRAJ_SECRET_<NAME> (or are asked at the terminal)."""
    require("playwright")
    from rich.markup import escape
    from rich.table import Table

    from traj.eventlog import Store
    from traj.replay import replay as run_replay

    variables = parse_assignments(var, "--var")
    with Store.open(resolve_home(home)) as store, _policy(backend, model, adapter, base_url, store) as policy:
        result = run_replay(
            store,
            demo,
            url=url,
            seed=seed,
            variables=variables,
            goal=goal,
            policy=policy,
            heal=heal,
            headless=headless,
            slow_mo=slow_mo,
            timeout_s=timeout,
            secrets=secret_source(),
        )
    failed = not result.completed or result.success is False
    if as_json:
        print_json(result)
        raise typer.Exit(1 if failed else 0)
    table = Table("step", "action", "status", "found by", "ms", "reason", header_style="bold")
    for step in result.steps:
        found = f"{step.strategy} {step.locator}".strip()
        table.add_row(str(step.step), step.kind, _STATUS[step.status], found, f"{step.duration_ms:.0f}", step.reason)
    console.print(table)
    verdict = {True: "[green]task succeeded[/]", False: "[red]task not achieved[/]", None: "no success predicate"}
    reason = f" ({escape(result.reason)})" if result.reason and not result.steps else ""
    console.print(f"replay {result.replay_id}: {verdict[result.success]}{reason}")
    if failed:
        raise typer.Exit(1)


@reports_errors
def evaluate(
    task: Annotated[str, typer.Argument(help="The task (a bundled site's name, or a recorded task).")],
    seeds: Annotated[str, typer.Option(help="Seeds: '0..19' (inclusive) or '1,4,7'.")] = "0..9",
    demo: Annotated[str | None, typer.Option(help="The demo to replay (default: the task's latest good one).")] = None,
    headless: Annotated[bool, typer.Option("--headless/--headed")] = True,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay a task's demonstration over seeded instances; report success rates."""
    require("playwright")
    from rich.progress import Progress

    from traj.eventlog import Store
    from traj.replay import evaluate as run_evaluate

    chosen = _parse_seeds(seeds)
    with Store.open(resolve_home(home)) as store, Progress(console=console, transient=True) as progress:
        bar = progress.add_task(f"replaying {task}", total=len(chosen))
        report = run_evaluate(
            store, task, chosen, demo_id=demo, headless=headless, on_result=lambda *_: progress.advance(bar)
        )
    if as_json:
        rates = {
            "task_success_rate": report.task_success_rate,
            "step_success_rate": report.step_success_rate,
            "element_accuracy": report.element_accuracy,
        }
        print_json({"task": task, "demo_id": report.demo_id, **rates, "results": report.results})
        return
    for seed, result in report.results.items():
        mark = {True: "[green]success[/]", False: "[red]failed[/]", None: "unknown"}[result.success]
        console.print(f"seed {seed}: {mark} {result.reason}", highlight=False)
    console.print(
        f"{task} (demo {report.demo_id}) over {len(chosen)} seeds: task success {report.task_success_rate:.0%}, "
        f"step success {report.step_success_rate:.0%}, element accuracy {report.element_accuracy:.0%}"
    )


@contextlib.contextmanager
def _policy(
    backend: str | None, model: str | None, adapter: str | None, base_url: str | None, store: Store
) -> Iterator[Policy | None]:
    """The policy --backend names (opened for the replay, closed after it), or None without one."""
    if backend is None:
        if model or adapter or base_url:
            raise typer.BadParameter("--model, --adapter and --base-url go with --backend")
        yield None
        return
    from traj.policy import open_policy

    local = model and backend in ("transformers", "mlx")
    policy = open_policy(backend, Path(model) if local else model, adapter=adapter, store=store, base_url=base_url)
    try:
        yield policy
    finally:
        policy.close()


def _parse_seeds(text: str) -> list[int]:
    try:
        if ".." in text:
            first, last = text.split("..", 1)
            return list(range(int(first), int(last) + 1))
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"seeds are '0..19' or '1,4,7', not {text!r}") from None
