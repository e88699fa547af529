"""``traj replay``: re-execute a recorded demonstration and report every step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from traj.cli._common import (
    HomeOption,
    JsonOption,
    console,
    err_console,
    exit_for_outcome,
    parse_assignments,
    print_json,
    reports_errors,
    require,
    resolve_home,
    secret_source,
)
from traj.cli._policy import AdapterOption, BaseUrlOption, MaxModelStepsOption, ModelOption, open_task_policy

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
    heal: Annotated[bool, typer.Option("--heal/--no-heal", help="Write healed locators back to the demo.")] = True,
    headless: Annotated[bool | None, typer.Option("--headless/--headed")] = None,
    slow_mo: Annotated[float, typer.Option("--slow-mo", help="Milliseconds between browser operations.")] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds a step may wait for its element.")] = 10.0,
    backend: Annotated[
        str | None,
        typer.Option(
            help="A policy for the steps replay cannot take and the variables of a goal worded unlike the demo's: "
            "transformers, mlx, openai, vllm or remote."
        ),
    ] = None,
    model: ModelOption = None,
    adapter: AdapterOption = None,
    base_url: BaseUrlOption = None,
    max_model_steps: MaxModelStepsOption = 3,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay a demonstration step by step and check the demo's success spec at the end.

    The values the demo's goal names (its variables) are bound from --goal (default: the goal
    the page states), worded like the demo's goal; a goal worded otherwise is filled by the
    --backend policy. --var overrides, and an unknown name is an error.
    With --backend (or --model/--adapter) a model takes the steps the ladder cannot find or whose
    check fails, at most --max-model-steps of them (source "model"). Exit status: 0 only when
    success is verified, 1 when a step or the task failed, 3 when success is unknown (the demo
    has no spec that can tell). Secrets the demo typed come from TRAJ_SECRET_<NAME> (or are
    asked at the terminal)."""
    require("playwright")
    from rich.markup import escape
    from rich.table import Table

    from traj.eventlog import Store
    from traj.projections import load_demo
    from traj.replay import replay as run_replay

    variables = parse_assignments(var, "--var")
    with Store.open(resolve_home(home)) as store:
        policy = None
        if backend is not None or model is not None or adapter is not None:
            task = load_demo(store, demo).started.task
            out = err_console if as_json else console
            policy = open_task_policy(
                store, task, backend=backend or "transformers", model=model, adapter=adapter, base_url=base_url, out=out
            )
        try:
            result = run_replay(
                store,
                demo,
                url=url,
                seed=seed,
                variables=variables,
                goal=goal,
                heal=heal,
                headless=headless,
                slow_mo=slow_mo,
                timeout_s=timeout,
                secrets=secret_source(),
                policy=policy,
                max_model_steps=max_model_steps,
            )
        finally:
            if policy is not None:
                policy.close()
    if as_json:
        print_json(result)
        exit_for_outcome(result.success)
        return
    table = Table("step", "action", "status", "source", "found by", "ms", "reason", header_style="bold")
    for step in result.steps:
        found = f"{step.strategy} {step.locator}".strip()
        status, ms = _STATUS[step.status], f"{step.duration_ms:.0f}"
        table.add_row(str(step.step), step.kind, status, step.source, found, ms, step.reason)
    console.print(table)
    verdict = {True: "[green]task succeeded[/]", False: "[red]task not achieved[/]", None: "[yellow]success unknown[/]"}
    why = f" ({escape(result.reason)})" if result.reason and result.completed else ""
    console.print(f"replay {result.replay_id}: {verdict[result.success]}{why}", highlight=False)
    exit_for_outcome(result.success)


@reports_errors
def evaluate(
    task: Annotated[str, typer.Argument(help="The task (a bundled site's name, or a recorded task).")],
    seeds: Annotated[
        str | None, typer.Option(help="Seeds of a bundled site: '0..19' (inclusive) or '1,4,7' (default 0..9).")
    ] = None,
    instances: Annotated[
        Path | None,
        typer.Option(help='JSONL file, one {"url": ..., "goal": ...} a line: instances of any site.'),
    ] = None,
    demo: Annotated[str | None, typer.Option(help="The demo to replay (default: the task's latest good one).")] = None,
    headless: Annotated[bool, typer.Option("--headless/--headed")] = True,
    backend: Annotated[
        str | None,
        typer.Option(
            help="A policy for the steps replay cannot take and goals worded unlike the demo's: "
            "transformers, mlx, openai, vllm or remote."
        ),
    ] = None,
    model: ModelOption = None,
    adapter: AdapterOption = None,
    base_url: BaseUrlOption = None,
    observe: Annotated[
        bool,
        typer.Option(
            "--observe",
            help="Record every page and action too: each successful replay then teaches "
            "'traj train' this instance beside the demo.",
        ),
    ] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay a task's demonstration over instances; report success rates.

    Each instance's goal binds the demo's variables: a bundled site's seed states its goal on
    the page; --instances gives each URL with its goal. With --backend (or --model/--adapter) a
    model fills goals worded otherwise and takes up to 3 steps a run the ladder cannot. Exit status: 0 only when every
    instance's success is verified, 1 when one failed, 3 when the rest are unknown (unknown
    is never counted as success)."""
    require("playwright")
    from rich.markup import escape
    from rich.progress import Progress

    from traj.eventlog import Store
    from traj.replay import evaluate as run_evaluate
    from traj.replay import read_instances

    if seeds is not None and instances is not None:
        raise typer.BadParameter("give --seeds or --instances, not both")
    given = read_instances(instances) if instances is not None else []
    chosen = [] if given else _parse_seeds(seeds or "0..9")
    with Store.open(resolve_home(home)) as store:
        policy = None
        if backend is not None or model is not None or adapter is not None:
            out = err_console if as_json else console
            policy = open_task_policy(
                store, task, backend=backend or "transformers", model=model, adapter=adapter, base_url=base_url, out=out
            )
        try:
            with Progress(console=console, transient=True) as progress:
                bar = progress.add_task(f"replaying {task}", total=len(chosen or given))
                report = run_evaluate(
                    store,
                    task,
                    chosen,
                    instances=given,
                    demo_id=demo,
                    headless=headless,
                    policy=policy,
                    on_result=lambda *_: progress.advance(bar),
                    observe=observe,
                )
        finally:
            if policy is not None:
                policy.close()
    outcomes = report.outcomes
    if as_json:
        rates = {
            "task_success_rate": report.task_success_rate,
            "step_success_rate": report.step_success_rate,
            "element_accuracy": report.element_accuracy,
        }
        print_json({"task": task, "demo_id": report.demo_id, **rates, **outcomes, "results": report.results})
        exit_for_outcome(report.success)
        return
    for key, result in report.results.items():
        mark = {True: "[green]success[/]", False: "[red]failed[/]", None: "[yellow]unknown[/]"}[result.success]
        console.print(f"{report.by} {key}: {mark} {escape(result.reason)}", highlight=False)
    console.print(
        f"{task} (demo {report.demo_id}) over {len(report.results)} instances: task success "
        f"{report.task_success_rate:.0%} ({outcomes['verified']} verified, {outcomes['failed']} failed, "
        f"{outcomes['unknown']} unknown)",
        highlight=False,
    )
    if observe:
        console.print(
            f"{outcomes['verified']} observed instances will teach 'traj train' beside demo {report.demo_id}",
            highlight=False,
        )
    if outcomes["unknown"]:  # steps that ran say nothing about a task nobody could verify
        console.print(
            f"[yellow]success unknown on {outcomes['unknown']} instances: unknown is not success "
            "(state it with 'traj demos success')[/]",
            highlight=False,
        )
    else:
        console.print(
            f"steps ran {report.step_success_rate:.0%}, element accuracy {report.element_accuracy:.0%}",
            highlight=False,
        )
    exit_for_outcome(report.success)


def _parse_seeds(text: str) -> list[int]:
    try:
        if ".." in text:
            first, last = text.split("..", 1)
            return list(range(int(first), int(last) + 1))
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"seeds are '0..19' or '1,4,7', not {text!r}") from None
