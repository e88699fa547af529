"""``traj run``: let the agent do a task on its own, step by step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from traj.cli._common import (
    HomeOption,
    JsonOption,
    console,
    err_console,
    exit_for_outcome,
    print_json,
    reports_errors,
    require,
    resolve_home,
    secret_source,
)

if TYPE_CHECKING:
    from traj.agent import AgentStep

__all__ = ["run"]

_COLOR = {
    "ok": "green",
    "finished": "green",
    "rejected": "yellow",
    "failed": "red",
    "stopped": "red",
    "corrected": "cyan",
}


@reports_errors
def run(
    task: Annotated[
        str, typer.Option(help="Task name: a bundled site (see 'traj sites serve'), or any name with --url.")
    ],
    url: Annotated[str | None, typer.Option(help="Start URL (default: the bundled site's page).")] = None,
    goal: Annotated[str | None, typer.Option(help="Goal in words (default: the page's window.traj.goal).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the bundled site's content.")] = None,
    backend: Annotated[str, typer.Option(help="transformers, mlx, openai, vllm or remote.")] = "transformers",
    model: Annotated[
        str | None, typer.Option(help="Model directory (local backends; default: the tiny model) or served name.")
    ] = None,
    adapter: Annotated[
        str | None, typer.Option(help="Adapter directory or name in the store (default: the task's specialist).")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", "--server-url", help="Endpoint of openai or vllm / the traj server of remote."),
    ] = None,
    max_steps: Annotated[int, typer.Option(help="Stop after this many steps.")] = 15,
    headless: Annotated[bool | None, typer.Option("--headless/--headed")] = None,
    ask_when_unsure: Annotated[
        bool, typer.Option(help="Hand a step to you in the browser when the agent is unsure of it (headed).")
    ] = False,
    confidence_threshold: Annotated[
        float, typer.Option(help="--ask-when-unsure: ask below this probability of the chosen element.")
    ] = 0.5,
    ask_timeout: Annotated[float, typer.Option(help="--ask-when-unsure: seconds to wait for you.")] = 120.0,
    constrain: Annotated[
        bool,
        typer.Option(
            "--constrain/--no-constrain",
            help="Decode only actions valid on the page (backends that can: transformers, mlx, openai, vllm).",
        ),
    ] = True,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the agent on a task until it says FINISH or runs out of steps.

    Success is judged by the task's latest demo's success spec when it has one, else by the
    page's own window.traj.check(). Exit status: 0 only when success is verified, 1 when the
    task failed, 3 when success is unknown. With --json the steps go to stderr as they happen
    and the result to stdout as one object."""
    require("playwright")
    from traj.agent import AskWhenUnsure, run_agent
    from traj.eventlog import Store
    from traj.policy import open_policy
    from traj.replay import task_success_spec
    from traj.specialists import choose_adapter

    ask = None
    if ask_when_unsure:
        ask = AskWhenUnsure(
            confidence_threshold,
            ask_timeout,
            ask=lambda unsure: console.print(f"[bold yellow]{unsure.message}[/]", highlight=False),
            warn=lambda message: err_console.print(f"[yellow]warning:[/] {message}", highlight=False),
        )
        headless = False if headless is None else headless  # the person acts in the browser's window
    out = err_console if as_json else console
    with Store.open(resolve_home(home)) as store:
        choice = choose_adapter(store, task, adapter=adapter, backend=backend, model=model)
        out.print(choice.reason, highlight=False)
        with out.status(f"loading the {backend} policy"):
            policy = open_policy(
                backend,
                Path(model) if model and backend in ("transformers", "mlx") else model,
                adapter=choice.adapter,
                store=store,
                base_url=base_url,
                task=task,
            )
        try:
            result = run_agent(
                store,
                policy,
                task=task,
                url=url,
                goal=goal,
                seed=seed,
                max_steps=max_steps,
                headless=headless,
                on_step=lambda step: out.print(_step_line(step), highlight=False),
                ask_when_unsure=ask,
                secrets=secret_source(),
                constrain=constrain,
                success_spec=task_success_spec(store, task),
            )
        finally:
            policy.close()
    if as_json:
        print_json(result)
        exit_for_outcome(result.success)
        return
    verdict = {True: "[green]task succeeded[/]", False: "[red]task not achieved[/]", None: "[yellow]success unknown[/]"}
    answer = f", answer {result.answer!r}" if result.answer else ""
    console.print(f"run {result.run_id}: {verdict[result.success]} ({result.reason}{answer})", highlight=False)
    console.print(
        f"  traj query \"SELECT step, outcome, action, error FROM run_steps WHERE run_id = '{result.run_id}'\""
    )
    exit_for_outcome(result.success)


def _step_line(step: AgentStep) -> str:
    action = step.action.to_json() if step.action else repr(" ".join(step.raw_output.split())[:60])
    generate = step.timings_ms.get("generate", 0.0)
    outcome = f"[{_COLOR[step.outcome]}]{step.outcome:<8}[/]"
    line = f"{step.step:>3} {outcome} {action}  [dim]{generate:.0f} ms[/]"
    if step.confidence is not None:
        line += f"  [dim]p={step.confidence:.2f}[/]"
    if step.demonstrated is not None:
        line += f"  [cyan]you did {step.demonstrated.to_json()}[/]"
    if step.guards:
        line += f"  [yellow]guard: {', '.join(step.guards)}[/]"
    if step.error:
        line += f"\n      [dim]{step.error}[/]"
    return line
