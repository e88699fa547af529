"""The model fallback of a replay: a policy takes the steps the demonstration's locators cannot.

When the ladder finds nothing, or a step's outcome check fails, the configured policy decides
that step on the fresh page, through the agent's own prompt (:mod:`traj.prompt`) with the
demonstration as its context: every demonstrated action with its enrichment, the values bound
for this run, the goal. Its answer is checked against the demonstrated step before it runs
(same kind, a control of the same role, the bound value) and verified after it like any step.
Bounded: at most ``max_model_steps`` steps of a run, two attempts a step (the second sees why
the first failed, as the agent's history shows it). Without a policy nothing here runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from traj.browser import Secrets, describe_matches, execute_action, resolve_locator, take_snapshot
from traj.errors import ActionFailedError, ParseError, PolicyError, TrajError, VariableError
from traj.eventlog import Element, Observation, Secret
from traj.projections import demo_enrichments, load_demo, teacher_step
from traj.prompt import (
    DEFAULT_MAX_NEW_TOKENS,
    AgentAction,
    HistoryEntry,
    Prompt,
    action_response_format,
    action_schema,
    action_token_bound,
    build_prompt,
    finish_step,
    parse_action,
    prompt_budget,
    render_teacher_context,
    render_workflow_context,
    resolve_values,
    taught_action,
)
from traj.replay._binding import bind_goal
from traj.replay._failure import StepFailedError

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from traj.browser import PageSnapshot
    from traj.eventlog import Store
    from traj.policy import Policy
    from traj.projections import Demo, DemoStep

__all__ = [
    "MODEL_KINDS",
    "ModelDecision",
    "ModelFallback",
    "ModelStepError",
    "fallback_prompt",
    "instance_demonstration",
]

MODEL_KINDS = ("CLICK", "TYPE", "SELECT", "PRESS_ENTER", "PRESS")
"""Kinds of targeted steps the model may take; the others fail as the replay reports them."""
ATTEMPTS = 2
"""Answers the model may give for one step."""


@dataclass(frozen=True)
class ModelDecision:
    """One answer of the model for a step: the page it saw, what it said, what ran, and why it failed if it did."""

    observation: Observation
    """The fresh page the model decided on (``screenshot`` is the blob's digest)."""
    prompt_sha256: str
    prompt_tokens: int
    prompt_truncated: bool
    raw_output: str
    parse_method: str | None
    proposed: AgentAction | None
    """The action read out of the answer (None when it held none)."""
    action: AgentAction | None
    """What was executed: the chosen control with the step's bound value (None when the answer was refused)."""
    attempt: int
    problem: str = ""
    """Why this answer failed the step ('' when it took it)."""
    locators: list[tuple[str, str]] = field(default_factory=list)
    element: Element | None = None
    context: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    adapter: str | None = None


class ModelStepError(StepFailedError):
    """The model could not take the step: every attempt's answer failed (the last one is ``decision``)."""

    def __init__(self, message: str, decision: ModelDecision) -> None:
        super().__init__(message)
        self.decision = decision


Verify = Callable[["Page", str], None]
"""Checks a step's outcome on the element with the given agent id (raises StepFailedError)."""


class ModelFallback:
    """The policy that decides a replay's failing steps, with the run's budget of model steps."""

    def __init__(
        self,
        policy: Policy,
        store: Store,
        demo: Demo,
        *,
        goal: str,
        values: dict[str, str],
        max_model_steps: int = 3,
        timeout_s: float = 5.0,
        secrets: Secrets | None = None,
        constrain: bool = True,
    ) -> None:
        self.policy, self.store, self.demo, self.goal, self.values = policy, store, demo, goal, values
        self.max_model_steps, self.timeout_s = max_model_steps, timeout_s
        self.constrained = constrain and bool(getattr(policy, "constrains_output", False))
        """The model may only write actions valid on the page (as the agent's constrained decoding)."""
        self.secrets = secrets or Secrets()
        self.used = 0
        self._context: str | None = None

    def can_take(self, step: DemoStep) -> bool:
        """Whether the model may take ``step``: a targeted step of a kind it speaks."""
        return step.action.kind in MODEL_KINDS and step.target is not None

    @property
    def exhausted(self) -> bool:
        return self.used >= self.max_model_steps

    def take(self, page: Page, index: int, step: DemoStep, verify: Verify) -> tuple[Page, ModelDecision]:
        """Let the model do ``step`` on ``page``; returns the page to go on with and the decision that worked.

        Raises :class:`ModelStepError` naming every attempt's answer and why it failed.
        """
        self.used += 1
        tried: list[HistoryEntry] = []
        problems: list[str] = []
        for attempt in range(1, ATTEMPTS + 1):
            decision = self._decide(page, index, step, tried, attempt)
            if not decision.problem:
                page, decision = self._run(page, step, decision, verify)
            if not decision.problem:
                return page, decision
            shown = decision.proposed.to_json() if decision.proposed else repr(decision.raw_output.strip()[:80])
            problems.append(f"attempt {attempt} answered {shown}: {decision.problem}")
            tried.append(HistoryEntry(shown, f"error: {decision.problem}"))
        raise ModelStepError(f"the model could not take it ({'; '.join(problems)})", decision)

    def prompt(self, index: int, snapshot: PageSnapshot, tried: Sequence[HistoryEntry] = ()) -> Prompt:
        """The prompt for step ``index`` on ``snapshot`` after the failed answers ``tried``."""
        history = [HistoryEntry(self._shown(s)) for s in self.demo.steps[:index]] + list(tried)
        budget = prompt_budget(self.policy.context_window, DEFAULT_MAX_NEW_TOKENS)
        prompt = build_prompt(
            self.goal,
            snapshot,
            history,
            demonstration=self._demonstration(),
            budget_tokens=budget,
            count_tokens=self.policy.count_tokens,
            screenshot=snapshot.screenshot if getattr(self.policy, "vision", False) else None,
        )
        if self.constrained:  # only actions valid on this page, as the agent
            schema = action_schema(self.goal, snapshot.elements, snapshot.text, url=snapshot.url)
            prompt = dataclasses.replace(prompt, response_format=action_response_format(schema))
        return prompt

    def _decide(self, page: Page, index: int, step: DemoStep, tried: list[HistoryEntry], attempt: int) -> ModelDecision:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        snapshot = take_snapshot(page, screenshot=True, mark_new=False)
        prompt = self.prompt(index, snapshot, tried)
        timings["observe"] = _ms(started)
        shot = self.store.put_blob(snapshot.screenshot) if snapshot.screenshot else None
        observation = Observation(
            url=snapshot.url,
            title=snapshot.title,
            text=snapshot.text,
            elements=snapshot.elements,
            screenshot=shot,
            step=index,
        )
        max_new_tokens = DEFAULT_MAX_NEW_TOKENS
        if prompt.response_format is not None:  # the schema prompt() built for this page
            schema = prompt.response_format["json_schema"]["schema"]
            max_new_tokens = max(max_new_tokens, action_token_bound(schema) + 1)
        decision = ModelDecision(
            observation,
            prompt.sha256,
            prompt.tokens,
            prompt.truncated,
            "",
            None,
            None,
            None,
            attempt,
            timings_ms=timings,
            adapter=self.policy.active_adapter,
        )
        try:
            generation = self.policy.generate(prompt, max_new_tokens=max_new_tokens)
        except PolicyError as exc:
            return dataclasses.replace(decision, problem=f"the policy failed: {exc}")
        timings["generate"] = round(generation.seconds * 1000, 3)
        decision = dataclasses.replace(decision, raw_output=generation.text)
        try:
            parsed = parse_action(generation.text)
            proposed = resolve_values(parsed.action, self.goal)
        except ParseError as exc:
            return dataclasses.replace(decision, problem=f"no action in the answer ({exc})")
        decision = dataclasses.replace(decision, parse_method=parsed.method, proposed=proposed)
        problem, action, element = self._check(step, proposed, snapshot.elements)
        return dataclasses.replace(decision, problem=problem, action=action, element=element)

    def _check(
        self, step: DemoStep, answer: AgentAction, elements: list[Element]
    ) -> tuple[str, AgentAction | None, Element | None]:
        """'' and the action to run when ``answer`` can be the demonstrated step, else why not."""
        recorded, kind = step.target, step.action.kind
        if answer.kind != kind:
            return f"a {answer.kind}, but the demonstrated step is a {kind}", None, None
        chosen = next((e for e in elements if e.agent_id == answer.target and e.visible), None)
        if chosen is None:
            return f"[{answer.target}] is not a visible element of the page", None, None
        assert recorded is not None
        if (chosen.tag, chosen.role) != (recorded.tag, recorded.role):
            what = f"{chosen.role or chosen.tag} {chosen.name!r}"
            return f"[{chosen.agent_id}] is a {what}, not a {recorded.role or recorded.tag} as demonstrated", None, None
        value = self._value(step)
        if kind in ("TYPE", "SELECT") and not isinstance(value, Secret) and answer.value != value:
            return f"its value {answer.value!r} is not the step's {value!r}", None, None
        return "", AgentAction(kind, chosen.agent_id, value), chosen  # type: ignore[arg-type]

    def _run(self, page: Page, step: DemoStep, decision: ModelDecision, verify: Verify) -> tuple[Page, ModelDecision]:
        """Execute the checked answer and verify it like any step; the decision says how it went."""
        action = decision.action
        assert action is not None and action.target is not None and decision.element is not None
        started = time.perf_counter()
        try:
            described = describe_matches(resolve_locator(page, "agent_id", action.target))
            context = str(described[0]["context"]) if described and described[0] else ""
            execution = execute_action(
                page,
                action.kind,
                action.target,
                action.value,
                timeout_s=self.timeout_s,
                seen_at=decision.element.bbox,
                secrets=self.secrets,
            )
            verify(execution.page, action.target)
        except (ActionFailedError, StepFailedError) as exc:
            return page, dataclasses.replace(decision, problem=str(exc))
        timings = decision.timings_ms | {"execute": _ms(started)}
        locators = list(execution.locators or [])
        return execution.page, dataclasses.replace(decision, locators=locators, context=context, timings_ms=timings)

    def _value(self, step: DemoStep) -> str | Secret | None:
        """The step's value in this run: a typed or selected variable's bound value (in the form the
        demo typed its own), else the demo's.

        (A variable that names a step's element is in the demonstration's values line instead.)"""
        return self.demo.value_of(step, self.values)

    def _shown(self, step: DemoStep) -> str:
        """A demonstrated action as the model reads it, with this run's value."""
        action = step.action
        return taught_action(action.kind, action.target, self._value(step)).to_json()

    def _demonstration(self) -> str:
        if self._context is None:
            enrichments = demo_enrichments(self.store, self.demo.demo_id)
            steps = [teacher_step(self._shown(s), enrichments.get(s.action_id)) for s in self.demo.steps]
            self._context = render_workflow_context(
                self.demo.started.goal, steps, self._new_values(), run_goal=self.goal
            )
        return self._context

    def _new_values(self) -> dict[str, str]:
        """The run's values of the demo's variables that are not the demonstrated ones (those the
        demonstration's steps already show as this run types them)."""
        shown: dict[str, set[object]] = {}
        typed: dict[str, set[object]] = {}
        for step in self.demo.steps:
            variable = self.demo.variable_of(step.action_id)
            if variable is not None and step.action.kind in ("TYPE", "SELECT"):
                shown.setdefault(variable, set()).add(step.action.value)
                typed.setdefault(variable, set()).add(self._value(step))
        return {
            name: value
            for name, value in self.values.items()
            if name in self.demo.variables and (name not in shown or shown[name] != typed[name])
        }


def instance_demonstration(store: Store, demo: Demo, goal: str, *, policy: Policy | None = None) -> str:
    """The teacher's context for the instance ``goal`` states: the demonstration as it would have
    gone there (that goal, each typed or selected value bound from it, the enrichment's notes with
    the demonstrated values swapped for the bound ones).

    What an observed replay of that instance gives the teacher (:func:`traj.datasets.instance_items`),
    without replaying it: for measuring the teacher on states whose true next action is known.
    Raises VariableError when ``goal`` does not bind (see :func:`bind_goal`).
    """
    values = bind_goal(demo, goal, policy=policy)
    enrichments = demo_enrichments(store, demo.demo_id)
    swaps = {demo.defaults[name]: value for name, value in values.items() if demo.defaults.get(name, value) != value}
    steps = []
    for step in demo.steps:
        action = taught_action(step.action.kind, step.action.target, demo.value_of(step, values))
        steps.append(teacher_step(action.to_json(), enrichments.get(step.action_id), swaps))
    if demo.concluded and demo.answer is None:  # as an observed replay ends (the instance's answer is not known)
        steps.append(finish_step())
    return render_teacher_context(goal, steps)


def instance_demonstrations(store: Store, demo: Demo, instances: Iterable[str]) -> dict[str, str]:
    """:func:`instance_demonstration` for each of the demonstrations ``instances`` (demo ids of
    other instances of ``demo``'s task), by their goals; one whose goal does not bind is left out
    (its teacher reads the demonstration as recorded)."""
    contexts = {}
    for instance in instances:
        with contextlib.suppress(VariableError):
            contexts[instance] = instance_demonstration(store, demo, load_demo(store, instance).started.goal)
    return contexts


def fallback_prompt(
    store: Store,
    demo_id: str,
    index: int,
    page: Page,
    policy: Policy,
    *,
    goal: str | None = None,
    variables: dict[str, str] | None = None,
) -> Prompt:
    """The prompt the model fallback sends ``policy`` for step ``index`` of ``demo_id`` on ``page`` (first attempt).

    What a policy must answer to take that step: for looking at a decision, or for tuning a
    policy on it. ``goal`` and ``variables`` as the replay gets them (the goal's values bound
    by :func:`bind_goal`, ``variables`` overriding).
    """
    demo = load_demo(store, demo_id)
    if not 0 <= index < len(demo.steps):
        raise TrajError(f"demo {demo_id} has steps 0 to {len(demo.steps) - 1}, not {index}")
    values = bind_goal(demo, goal, policy=policy, given=variables) if goal else dict(variables or {})
    fallback = ModelFallback(policy, store, demo, goal=goal or demo.started.goal, values=values)
    return fallback.prompt(index, take_snapshot(page, screenshot=False, mark_new=False))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
