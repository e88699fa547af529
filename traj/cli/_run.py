"""``traj run``: do a task: its workflow when a replay verified its demonstration, else the agent alone."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

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
from traj.cli._policy import AdapterOption, BaseUrlOption, MaxModelStepsOption, ModelOption, open_task_policy

if TYPE_CHECKING:
    from traj.agent import AgentStep
    from traj.workflow import TaskStep

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
    model: ModelOption = None,
    adapter: AdapterOption = None,
    base_url: BaseUrlOption = None,
    max_steps: Annotated[int, typer.Option(help="The agent stops after this many steps.")] = 15,
    workflow: Annotated[
        bool,
        typer.Option(
            "--workflow/--agent-only",
            help="Run the task's replay-verified demonstration as a workflow when it has one.",
        ),
    ] = True,
    max_model_steps: MaxModelStepsOption = 3,
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
    """Do a task toward a goal: as a workflow when a replay verified a demonstration of it, else the agent alone.

    The workflow replays the task's latest replay-verified demo (values bound from --goal, the
    locator ladder, the model taking at most --max-model-steps steps it cannot); the agent
    alone decides every step until FINISH or --max-steps. Every step is recorded with its
    source: workflow, healed, model or agent (the run_steps view). Success is judged by the
    task's demo's success spec, else by the page's own window.traj.check(). Exit status: 0
    only when success is verified, 1 when the task failed, 3 when success is unknown. With
    --json the steps go to stderr as they happen and the result to stdout as one object."""
    require("playwright")
    from traj.agent import AskWhenUnsure
    from traj.eventlog import Store
    from traj.workflow import run_task

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
        policy = open_task_policy(
            store, task, backend=backend, model=model, adapter=adapter, base_url=base_url, out=out
        )
        try:
            result = run_task(
                store,
                policy,
                task=task,
                goal=goal,
                url=url,
                seed=seed,
                workflow=workflow,
                max_model_steps=max_model_steps,
                max_steps=max_steps,
                headless=headless,
                secrets=secret_source(),
                constrain=constrain,
                on_step=lambda step: out.print(_step_line(step), highlight=False),
                ask_when_unsure=ask,
            )
        finally:
            policy.close()
    if as_json:
        print_json(result)
        exit_for_outcome(result.success)
        return
    verdict = {True: "[green]task succeeded[/]", False: "[red]task not achieved[/]", None: "[yellow]success unknown[/]"}
    answer = f", answer {result.answer!r}" if result.answer else ""
    mode = f"the workflow of demo {result.demo_id}" if result.mode == "workflow" else "the agent alone"
    console.print(
        f"run {result.run_id}: {verdict[result.success]} ({escape(result.reason)}{answer}), by {mode}", highlight=False
    )
    console.print(
        f"  traj query \"SELECT step, source, outcome, action, error FROM run_steps WHERE run_id = '{result.run_id}'\""
    )
    exit_for_outcome(result.success)


def _step_line(step: TaskStep) -> str:
    if step.agent is not None:
        return _agent_line(step.agent)
    action = "{}" if step.action is None else json.dumps(step.action, separators=(",", ":"))
    line = f"{step.step:>3} [{_COLOR[step.outcome]}]{step.outcome:<8}[/] {escape(action)}  [dim]{step.source}[/]"
    if step.error:
        line += f"\n      [dim]{escape(step.error)}[/]"
    return line


def _agent_line(step: AgentStep) -> str:
    action = step.action.to_json() if step.action else repr(" ".join(step.raw_output.split())[:60])
    generate = step.timings_ms.get("generate", 0.0)
    outcome = f"[{_COLOR[step.outcome]}]{step.outcome:<8}[/]"
    line = f"{step.step:>3} {outcome} {action}  [dim]agent {generate:.0f} ms[/]"
    if step.confidence is not None:
        line += f"  [dim]p={step.confidence:.2f}[/]"
    if step.demonstrated is not None:
        line += f"  [cyan]you did {step.demonstrated.to_json()}[/]"
    if step.guards:
        line += f"  [yellow]guard: {', '.join(step.guards)}[/]"
    if step.error:
        line += f"\n      [dim]{step.error}[/]"
    return line
