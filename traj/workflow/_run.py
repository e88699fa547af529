"""One run command: a task's workflow when a replay verified its demonstration, else the agent.

The workflow is the replay engine itself (``traj.replay.replay``: goal-bound variables, the
locator ladder, the model fallback), so there is one execution engine; this module chooses
it and records what it did as a ``run/<id>`` stream like the agent's, one ``run.step`` per step
with its ``source``:

- ``workflow`` / ``healed``: the demonstration's step, found by its recorded or a healed
  locator. Only a ``run.step`` (the action run, with the element's id on this page): it is the
  person's decision repeated, not a model's, so it has no ``observation`` or ``action`` event
  and never becomes a training row of the decision views.
- ``model``: the fallback's decision, recorded as the agent records a step (the page it saw,
  the action run, the prompt's hash, the raw answer): a model's decision, judged like the agent's.
- ``agent``: a step of the agent alone (``traj.agent.run_agent``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from traj.agent import AgentStep, AskWhenUnsure, run_agent
from traj.eventlog import Action, NewEvent, RunFinished, RunStarted, RunStep, Store, new_event_id
from traj.projections import Projections, load_demo
from traj.replay import ReplayResult, StepResult, replay, task_success_spec

if TYPE_CHECKING:
    from traj.browser import Secrets
    from traj.policy import Policy
    from traj.prompt import AgentAction

__all__ = ["TaskRun", "TaskStep", "run_task", "workflow_demo"]

Source = Literal["workflow", "healed", "model", "agent"]


@dataclass(frozen=True)
class TaskStep:
    """One step of a run as the caller sees it: who took it, how it went, what it did."""

    step: int
    source: Source
    outcome: str
    """``ok`` or ``failed`` for a workflow's step; the agent's outcome (``ok``, ``rejected``, ...) otherwise."""
    action: dict[str, Any] | None
    """``{"kind", "target", "value"}`` as run (the element's id on this page); None when nothing ran."""
    error: str = ""
    agent: AgentStep | None = None
    """An agent's step in full (its raw output, guards, confidence, timings)."""


@dataclass(frozen=True)
class TaskRun:
    """How ``run_task`` went: the mode it chose, every step with its source, the verdict."""

    run_id: str
    mode: Literal["workflow", "agent"]
    demo_id: str | None
    replay_id: str | None
    steps: list[TaskStep]
    success: bool | None
    reason: str
    answer: str | None = None


def workflow_demo(store: Store, task: str) -> str | None:
    """The latest demonstration of ``task`` that a replay verified (a replay of it succeeded); None if none."""
    with Projections(store) as projections:
        rows = projections.query(
            "SELECT d.demo_id FROM demos d WHERE d.task = $task AND d.success IS NOT false "
            "AND EXISTS (SELECT 1 FROM replays r WHERE r.demo_id = d.demo_id AND r.success) "
            "ORDER BY d.position DESC LIMIT 1",
            {"task": task},
        ).to_pylist()
    return rows[0]["demo_id"] if rows else None


def run_task(
    store: Store,
    policy: Policy,
    *,
    task: str,
    goal: str | None = None,
    url: str | None = None,
    seed: int | None = None,
    workflow: bool = True,
    max_model_steps: int = 3,
    max_steps: int = 15,
    headless: bool | None = None,
    timeout_s: float = 10.0,
    secrets: Secrets | None = None,
    constrain: bool = True,
    on_step: Callable[[TaskStep], None] | None = None,
    ask_when_unsure: AskWhenUnsure | None = None,
) -> TaskRun:
    """Do ``task`` toward ``goal``: as a workflow when ``task`` has a replay-verified demonstration
    (and ``workflow`` is true), with ``policy`` taking at most ``max_model_steps`` steps it cannot;
    otherwise ``policy`` as the agent alone (at most ``max_steps`` steps).

    Either way the run is a ``run/<id>`` stream whose ``run.step`` events carry their source.
    ``url`` and ``seed`` say where to start (default: the demo's page, or the bundled site's).
    """
    demo_id = workflow_demo(store, task) if workflow else None
    if demo_id is None:
        return _agent_run(
            store, policy, task, goal, url, seed, max_steps, headless, secrets, constrain, on_step, ask_when_unsure
        )
    result = replay(
        store,
        demo_id,
        url=url,
        seed=seed,
        goal=goal,
        policy=policy,
        max_model_steps=max_model_steps,
        headless=headless,
        timeout_s=timeout_s,
        secrets=secrets,
        constrain=constrain,
    )
    run = _record_workflow_run(store, policy, task, goal, seed, result, constrain)
    if on_step is not None:
        for step in run.steps:
            on_step(step)
    return run


def _agent_run(
    store: Store,
    policy: Policy,
    task: str,
    goal: str | None,
    url: str | None,
    seed: int | None,
    max_steps: int,
    headless: bool | None,
    secrets: Secrets | None,
    constrain: bool,
    on_step: Callable[[TaskStep], None] | None,
    ask_when_unsure: AskWhenUnsure | None,
) -> TaskRun:
    result = run_agent(
        store,
        policy,
        task=task,
        url=url,
        goal=goal,
        seed=seed,
        max_steps=max_steps,
        headless=headless,
        on_step=None if on_step is None else lambda step: on_step(_agent_step(step)),
        ask_when_unsure=ask_when_unsure,
        secrets=secrets,
        constrain=constrain,
        success_spec=task_success_spec(store, task),
    )
    steps = [_agent_step(step) for step in result.steps]
    return TaskRun(result.run_id, "agent", None, None, steps, result.success, result.reason, result.answer)


def _agent_step(step: AgentStep) -> TaskStep:
    return TaskStep(step.step, "agent", step.outcome, _as_dict(step.action), step.error, step)


def _record_workflow_run(
    store: Store, policy: Policy, task: str, goal: str | None, seed: int | None, result: ReplayResult, constrain: bool
) -> TaskRun:
    """The replay ``result`` as the run ``run/<id>``: started, a ``run.step`` per step, finished (one append)."""
    demo = load_demo(store, result.demo_id)
    started = store.events(stream=f"replay/{result.replay_id}", types=["replay.started"])[0].data
    run_id = new_event_id()
    events: list[NewEvent] = [
        NewEvent(
            data=RunStarted(
                run_id=run_id,
                task=task,
                goal=goal or demo.started.goal,
                url=started.url,
                seed=seed,
                backend=policy.backend,
                model=policy.model_id,
                adapter=policy.active_adapter,
                max_steps=len(demo.steps),
                demo_id=result.demo_id,
                replay_id=result.replay_id,
                constrained=constrain and bool(getattr(policy, "constrains_output", False)),
            )
        )
    ]
    steps: list[TaskStep] = []
    for index, replayed in enumerate(result.steps):
        step = _task_step(index, replayed)
        steps.append(step)
        events += _step_events(run_id, step, replayed, policy)
    reason = result.reason or ("finished" if result.completed else "")
    events.append(NewEvent(data=RunFinished(run_id=run_id, success=result.success, reason=reason, steps=len(steps))))
    store.append(f"run/{run_id}", events, expected_seq=0)
    return TaskRun(run_id, "workflow", result.demo_id, result.replay_id, steps, result.success, reason)


def _task_step(index: int, replayed: StepResult) -> TaskStep:
    outcome = "failed" if replayed.status == "failed" else "ok"
    decision = replayed.decision
    if replayed.source == "model" and decision is not None:
        action = _as_dict(decision.action) if outcome == "ok" else _as_dict(decision.proposed)
    elif outcome == "ok":
        action = {"kind": replayed.kind, "target": replayed.agent_id or None, "value": replayed.value or None}
    else:
        action = None
    return TaskStep(index, replayed.source, outcome, action, replayed.reason)


def _step_events(run_id: str, step: TaskStep, replayed: StepResult, policy: Policy) -> list[NewEvent]:
    """A workflow step's ``run.step``; a model step's also with the page it saw and the action it ran."""
    decision = replayed.decision
    timings = {"execute": round(replayed.duration_ms, 3)}
    if step.source != "model" or decision is None:
        event = RunStep(
            run_id=run_id,
            step=step.step,
            action=step.action,
            outcome=step.outcome,  # type: ignore[arg-type]
            error=step.error,
            timings_ms=timings,
            source=step.source,
        )
        return [NewEvent(data=event)]
    observation = NewEvent(
        data=decision.observation,
        blobs=(decision.observation.screenshot,) if decision.observation.screenshot else (),
    )
    events = [observation]
    if step.outcome == "ok" and decision.action is not None:
        executed = decision.action
        events.append(
            NewEvent(
                data=Action(
                    kind=executed.kind,
                    target=executed.target,
                    value=executed.value,
                    locators=decision.locators,  # type: ignore[arg-type]
                    observation_id=observation.event_id,
                    step=step.step,
                )
            )
        )
    event = RunStep(
        run_id=run_id,
        step=step.step,
        prompt_sha256=decision.prompt_sha256,
        prompt_tokens=decision.prompt_tokens,
        prompt_truncated=decision.prompt_truncated,
        raw_output=decision.raw_output,
        parse_method=decision.parse_method,
        proposed=_as_dict(decision.proposed),
        action=step.action,
        outcome=step.outcome,  # type: ignore[arg-type]
        error=step.error,
        timings_ms=decision.timings_ms,
        adapter=decision.adapter if decision.adapter is not None else policy.active_adapter,
        source="model",
    )
    return [*events, NewEvent(data=event)]


def _as_dict(action: AgentAction | None) -> dict[str, Any] | None:
    return None if action is None else {"kind": action.kind, "target": action.target, "value": action.value}
