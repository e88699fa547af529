"""The agent's loop: observe -> prompt -> generate -> parse -> guard -> execute -> record.

A run is a ``run/<id>`` stream that reads like a demonstration: ``run.started``, then per step
the ``observation`` the decision was made in, the ``action`` executed (when one was) and a
``run.step`` with what only a model-driven step has (prompt hash, raw output, guards, timings),
then ``run.finished``. Each step is appended as it happens, so a run killed midway keeps the
steps it took. Errors the model can fix (no action in its text, an unknown element, a failed
click) go back to it in the history; a backend failure ends the run with the reason.

With :class:`AskWhenUnsure`, a step whose confidence is below the threshold is handed to the
person at the browser: their action is the step's ``action`` event (the ``run.step`` keeps the
agent's choice, outcome ``corrected``), and a ``feedback`` event marks the agent's choice bad
with theirs as the correction, so the exports learn both from it. Then the agent goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from traj.agent._confidence import choice_confidence
from traj.agent._guards import GuardState, apply_guards
from traj.browser import (
    HandOver,
    PersonAction,
    Secrets,
    execute_action,
    install_snapshotter,
    judge_success,
    launch,
    page_goal,
    prime_actions,
    take_snapshot,
)
from traj.errors import ActionFailedError, BrowserError, PolicyError, SecretMissingError, TrajError
from traj.eventlog import (
    Action,
    NewEvent,
    Observation,
    RunFinished,
    RunStarted,
    RunStep,
    Store,
    SuccessSpec,
    new_event_id,
)
from traj.prompt import (
    DEFAULT_MAX_NEW_TOKENS,
    AgentAction,
    HistoryEntry,
    ParseError,
    action_response_format,
    action_schema,
    action_token_bound,
    build_prompt,
    history_entry,
    parse_action,
    prompt_budget,
    resolve_values,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from traj.policy import Policy

__all__ = ["AgentStep", "AskWhenUnsure", "RunResult", "UnsureStep", "run_agent", "run_on_page"]

Outcome = Literal["ok", "rejected", "failed", "finished", "stopped", "corrected"]


@dataclass(frozen=True)
class UnsureStep:
    """A step the agent hands to the person: what it would have done and how sure it was."""

    step: int
    confidence: float
    threshold: float
    proposed: AgentAction
    timeout_s: float

    @property
    def message(self) -> str:
        return (
            f"the agent is unsure at step {self.step} (p={self.confidence:.2f} < {self.threshold:g}): "
            f"do this step in the browser (it would do {self.proposed.to_json()}); "
            f"waiting {self.timeout_s:g} s. Typing ends when you leave the field (Tab)."
        )


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=4)


@dataclass(frozen=True)
class AskWhenUnsure:
    """Hand a step to the person at the browser when the policy's confidence is below ``threshold``.

    ``ask`` tells the person (the CLI prints :attr:`UnsureStep.message`); it is called once the
    page listens, so a script standing in for the person may act from it. Nobody acting within
    ``timeout_s`` lets the agent do its own action. ``warn`` hears what the person should know
    otherwise: a backend that reports no token probabilities cannot be unsure, so it never asks.
    """

    threshold: float = 0.5
    timeout_s: float = 120.0
    ask: Callable[[UnsureStep], None] = lambda unsure: print(unsure.message, flush=True)
    warn: Callable[[str], None] = _warn

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise TrajError(f"the confidence threshold is a probability in (0, 1], got {self.threshold}")
        if self.timeout_s <= 0:
            raise TrajError(f"the timeout for the person's action must be positive, got {self.timeout_s}")


@dataclass(frozen=True)
class AgentStep:
    """One step of a run as the caller sees it (the same facts as its ``run.step`` event)."""

    step: int
    outcome: Outcome
    raw_output: str
    action: AgentAction | None
    error: str = ""
    guards: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    confidence: float | None = None
    demonstrated: AgentAction | None = None
    """The person's action when the agent asked (outcome ``corrected``); ``action`` is the agent's."""


@dataclass(frozen=True)
class RunResult:
    """How a run went: every step, the site's verdict, the answer given with FINISH."""

    run_id: str
    steps: list[AgentStep]
    success: bool | None
    answer: str | None
    reason: str

    @property
    def finished(self) -> bool:
        """The agent said FINISH (rather than running out of steps or being stopped)."""
        return bool(self.steps) and self.steps[-1].outcome == "finished"


def run_agent(
    store: Store,
    policy: Policy,
    *,
    task: str,
    url: str | None = None,
    goal: str | None = None,
    seed: int | None = None,
    max_steps: int = 15,
    headless: bool | None = None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    timeout_s: float = 5.0,
    on_step: Callable[[AgentStep], None] | None = None,
    ask_when_unsure: AskWhenUnsure | None = None,
    secrets: Secrets | None = None,
    constrain: bool = True,
    success_spec: SuccessSpec | None = None,
) -> RunResult:
    """Run the agent on ``task`` in a fresh Chromium; see :func:`run_on_page`.

    Without ``url``, ``task`` must name a bundled site: it is served on 127.0.0.1 and the run
    starts on its page for ``seed`` (default 1).
    """
    with contextlib.ExitStack() as stack:
        if url is None:
            url = _bundled_start(task, seed, stack)
        session = stack.enter_context(launch(headless=headless))
        return run_on_page(
            store,
            policy,
            session.page,
            task=task,
            url=url,
            goal=goal,
            seed=seed,
            max_steps=max_steps,
            max_new_tokens=max_new_tokens,
            timeout_s=timeout_s,
            on_step=on_step,
            ask_when_unsure=ask_when_unsure,
            secrets=secrets,
            constrain=constrain,
            success_spec=success_spec,
        )


def _bundled_start(task: str, seed: int | None, stack: contextlib.ExitStack) -> str:
    from traj.sites import SITES, serve_sites

    site = SITES.get(task)
    if site is None:
        raise TrajError(f"task {task!r} is not a bundled site ({', '.join(SITES)}); give its start URL with --url")
    server = stack.enter_context(serve_sites())
    return site.start_url(server.url, 1 if seed is None else seed)


def run_on_page(
    store: Store,
    policy: Policy,
    page: Page,
    *,
    task: str,
    url: str,
    goal: str | None = None,
    seed: int | None = None,
    max_steps: int = 15,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    timeout_s: float = 5.0,
    on_step: Callable[[AgentStep], None] | None = None,
    ask_when_unsure: AskWhenUnsure | None = None,
    secrets: Secrets | None = None,
    constrain: bool = True,
    success_spec: SuccessSpec | None = None,
) -> RunResult:
    """Let ``policy`` do ``task`` on ``page`` from ``url`` until FINISH, ``max_steps`` or a stop.

    ``goal`` defaults to the page's own ``window.traj.goal`` (the bundled sites). The run is
    recorded as ``run/<id>`` in ``store``; the result's ``success`` is the verdict of
    ``success_spec`` (a demo's, see :func:`~traj.browser.judge_success`), by default the page's
    own ``window.traj.check()``; None (unknown) where neither can tell. ``ask_when_unsure`` hands low-confidence
    steps to the person at the browser (see :class:`AskWhenUnsure`). A TYPE of a secret
    (``{"secret": "NAME"}``) types its value from ``secrets`` (default: ``TRAJ_SECRET_<NAME>``);
    the run records only the reference, and stops with the reason when the secret is not set.
    With ``constrain`` (the default) and a policy whose ``constrains_output`` is true, the model
    can only write an action valid on the page it sees (:func:`~traj.prompt.action_schema`).
    """
    install_snapshotter(page)
    try:
        page.goto(url)
    except Exception as exc:
        raise BrowserError(f"cannot open {url}: {str(exc).splitlines()[0]}") from None
    goal = goal or page_goal(page)
    if not goal:
        raise TrajError(f"no goal for task {task!r}: pass one (--goal), the page at {url} does not state it")
    run_id = new_event_id()
    stream = f"run/{run_id}"
    constrained = constrain and bool(getattr(policy, "constrains_output", False))
    started = RunStarted(
        run_id=run_id,
        task=task,
        goal=goal,
        url=url,
        seed=seed,
        backend=policy.backend,
        model=policy.model_id,
        adapter=policy.active_adapter,
        max_steps=max_steps,
        constrained=constrained,
    )
    seq = store.append(stream, [started], expected_seq=0).next_seq
    loop = _Loop(store, policy, stream, run_id, goal, max_new_tokens, timeout_s, ask_when_unsure, secrets, constrained)
    answer, reason = None, f"reached max_steps ({max_steps})"
    try:
        for index in range(max_steps):
            step, events, page = loop.step(index, page)
            seq = store.append(stream, events, expected_seq=seq).next_seq
            if step.demonstrated is not None and ask_when_unsure is not None:
                _record_correction(store, run_id, step, ask_when_unsure.warn)
            if on_step is not None:
                on_step(step)
            if step.outcome == "finished":
                answer, reason = (step.action.value if step.action else None), "finished"
                break
            if step.outcome == "stopped":
                reason = step.error
                break
    finally:
        loop.worker.shutdown(wait=True)
        success = _verdict(page, success_spec or _PAGE_CHECK)
        steps = len(loop.steps)
        finished = RunFinished(run_id=run_id, success=success, answer=answer, reason=reason, steps=steps)
        store.append(stream, [finished], expected_seq=seq)
    return RunResult(run_id, loop.steps, success, answer, reason)


def _record_correction(store: Store, run_id: str, step: AgentStep, warn: Callable[[str], None]) -> None:
    """The person's action as the correction of the agent's: the exports' (wrong, bad) + (right, good)."""
    import msgspec

    from traj.agent._feedback import record_feedback
    from traj.errors import FeedbackError

    note = f"the agent was unsure (p={step.confidence:.2f}); a person did this step in the browser"
    try:
        record_feedback(
            store, run_id, "bad", step=step.step, correction=msgspec.to_builtins(step.demonstrated), note=note
        )
    except FeedbackError as exc:  # e.g. the person used an element that appeared after the agent looked
        warn(f"step {step.step} was done by a person but is not recorded as a correction: {exc}")


_PAGE_CHECK = SuccessSpec(page_check=True)


def _verdict(page: Page, spec: SuccessSpec) -> bool | None:
    try:
        return judge_success(page, spec, timeout_s=1.0).success
    except Exception:  # a page that closed or crashed has no verdict
        return None


class _Loop:
    """The per-step work of one run, with the history and guard state it carries."""

    def __init__(
        self,
        store: Store,
        policy: Policy,
        stream: str,
        run_id: str,
        goal: str,
        max_new_tokens: int,
        timeout_s: float,
        ask: AskWhenUnsure | None = None,
        secrets: Secrets | None = None,
        constrain: bool = False,
    ) -> None:
        self.store, self.policy, self.stream, self.run_id, self.goal = store, policy, stream, run_id, goal
        self.secrets = secrets or Secrets()
        self.max_new_tokens, self.timeout_s, self.ask, self.constrain = max_new_tokens, timeout_s, ask, constrain
        self.handover: HandOver | None = None
        self.warned_unknown = False
        self.budget = prompt_budget(policy.context_window, max_new_tokens)
        self.history: list[HistoryEntry] = []
        self.guards = GuardState()
        self.steps: list[AgentStep] = []
        self.vision = bool(getattr(policy, "vision", False))
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="traj-generate")

    def step(self, index: int, page: Page) -> tuple[AgentStep, list[NewEvent], Page]:
        timings: dict[str, float] = {}
        with _timed(timings, "observe"):
            snapshot = take_snapshot(page, screenshot=self.vision)
        self.guards.observe(snapshot.elements)
        with _timed(timings, "prompt"):
            prompt = build_prompt(
                self.goal,
                snapshot,
                self.history,
                budget_tokens=self.budget,
                count_tokens=self.policy.count_tokens,
                screenshot=snapshot.screenshot,
            )
            max_new_tokens = self.max_new_tokens
            if self.constrain:  # room for the longest valid action: one cut short would be none
                schema = action_schema(self.goal, snapshot.elements, snapshot.text, url=snapshot.url)
                prompt = dataclasses.replace(prompt, response_format=action_response_format(schema))
                max_new_tokens = max(max_new_tokens, action_token_bound(schema) + 1)
        record = _StepRecord(index, prompt.sha256, prompt.tokens, prompt.truncated)
        # A text-only policy does not need the screenshot: it is taken (for the record) while
        # the model generates, so it costs the step nothing.
        pending = self.worker.submit(self.policy.generate, prompt, max_new_tokens=max_new_tokens)
        png = snapshot.screenshot
        if png is None:
            with _timed(timings, "screenshot"):
                png = _screenshot(page)
        prime_actions(page)  # also while the model generates
        screenshot = self.store.put_blob(png) if png else None
        observation = Observation(
            url=snapshot.url,
            title=snapshot.title,
            text=snapshot.text,
            elements=snapshot.elements,
            screenshot=screenshot,
            step=index,
        )
        observation_id = new_event_id()
        events = [NewEvent(data=observation, event_id=observation_id, blobs=(screenshot,) if screenshot else ())]
        try:
            generation = pending.result()
        except PolicyError as exc:
            record.outcome, record.error = "stopped", f"policy failed: {exc}"
            return self._finish(record, timings, events, page)
        timings["generate"] = round(generation.seconds * 1000, 3)
        record.raw_output, record.completion_tokens = generation.text, generation.completion_tokens
        record.generation_logprobs = bool(generation.token_logprobs)
        with _timed(timings, "parse"):
            try:
                parsed = parse_action(generation.text)
                proposed = resolve_values(parsed.action, self.goal)  # acts on the text a `$N` names
                record.parse_method, record.proposed = parsed.method, proposed
                guarded = apply_guards(proposed, snapshot.elements, self.guards)
                record.guards, record.action = guarded.interventions, guarded.action
                if guarded.action is None:
                    record.outcome, record.error = "rejected", guarded.error
            except ParseError as exc:
                record.outcome, record.error = "rejected", str(exc)
        record.confidence = choice_confidence(generation, record.action or record.proposed)
        person = self._ask_person(index, page, record, timings) if record.action is not None else None
        if person is not None:
            record.outcome, record.demonstrated = "corrected", AgentAction(person.kind, person.target, person.value)  # type: ignore[arg-type]
            done = Action(
                kind=person.kind,  # type: ignore[arg-type]
                target=person.target,
                value=person.value,
                locators=person.locators,  # type: ignore[arg-type]
                observation_id=observation_id,
                step=index,
                context=person.context,
                drop_locators=person.drop_locators,  # type: ignore[arg-type]
                drop_context=person.drop_context,
            )
            events.append(NewEvent(data=done))
        elif record.action is not None:
            action = record.action
            page_wait_ms = 0.0
            seen = next((e for e in snapshot.elements if e.agent_id == action.target), None)
            with _timed(timings, "execute"):
                try:
                    execution = execute_action(
                        page,
                        action.kind,
                        action.target,
                        action.value,
                        timeout_s=self.timeout_s,
                        seen_at=seen.bbox if seen is not None else None,
                        secrets=self.secrets,
                    )
                    page, page_wait_ms, locators = execution.page, execution.page_wait_ms, execution.locators or []
                    record.outcome = "finished" if action.kind == "FINISH" else "ok"
                except ActionFailedError as exc:
                    record.outcome, record.error, locators = "failed", str(exc), exc.locators
                except SecretMissingError as exc:  # no model can fix that: the person must set it
                    record.outcome, record.error, locators = "stopped", str(exc), []
            # the site's own time (a document loading, a WAIT) is reported apart from the agent's
            timings["page_wait"] = page_wait_ms
            timings["execute"] = round(timings["execute"] - page_wait_ms, 3)
            executed = Action(
                kind=action.kind,
                target=action.target,
                value=action.value,
                locators=locators,  # type: ignore[arg-type]
                observation_id=observation_id,
                step=index,
            )
            events.append(NewEvent(data=executed))
        proposed = record.action or record.proposed
        key = proposed.to_json() if proposed else record.raw_output.strip()
        self.guards.record(key, record.action, failed=record.outcome in ("rejected", "failed"))
        if record.outcome in ("rejected", "failed") and self.guards.stop_reason:
            record.outcome, record.error = "stopped", f"{self.guards.stop_reason}: {record.error}"
        return self._finish(record, timings, events, page)

    def _ask_person(
        self, index: int, page: Page, record: _StepRecord, timings: dict[str, float]
    ) -> PersonAction | None:
        """The person's action for this step when the agent is unsure of its own, else ``None``."""
        ask, action = self.ask, record.action
        if ask is None or action is None:
            return None
        if record.confidence is None:
            if not self.warned_unknown and not record.generation_logprobs:
                self.warned_unknown = True
                ask.warn(
                    f"--ask-when-unsure: the {self.policy.backend} backend reports no token probabilities "
                    f"({self.policy.model_id}), so the agent cannot tell when it is unsure and will not ask"
                )
            return None
        if record.confidence >= ask.threshold:
            return None
        unsure = UnsureStep(index, record.confidence, ask.threshold, action, ask.timeout_s)
        if self.handover is None or self.handover.page is not page:
            self.handover = HandOver(page)
        with _timed(timings, "person"):
            person = self.handover.next_action(ask.timeout_s, on_listening=lambda: ask.ask(unsure))
        if person is None:
            ask.warn(f"nobody acted within {ask.timeout_s:g} s at step {index}: the agent does {action.to_json()}")
        return person

    def _finish(
        self, record: _StepRecord, timings: dict[str, float], events: list[NewEvent], page: Page
    ) -> tuple[AgentStep, list[NewEvent], Page]:
        event = RunStep(
            run_id=self.run_id,
            step=record.step,
            prompt_sha256=record.prompt_sha256,
            prompt_tokens=record.prompt_tokens,
            prompt_truncated=record.truncated,
            raw_output=record.raw_output,
            completion_tokens=record.completion_tokens,
            parse_method=record.parse_method,
            proposed=_as_dict(record.proposed),
            action=_as_dict(record.action) if record.outcome not in ("rejected",) else None,
            guards=record.guards,
            outcome=record.outcome,
            error=record.error,
            confidence=record.confidence,
            timings_ms=timings,
            adapter=self.policy.active_adapter,
            demonstrated=_as_dict(record.demonstrated),
        )
        events.append(NewEvent(data=event))
        self.history.append(history_entry(event))
        step = AgentStep(
            record.step,
            record.outcome,
            record.raw_output,
            record.action,
            record.error,
            record.guards,
            timings,
            record.confidence,
            record.demonstrated,
        )
        self.steps.append(step)
        return step, events, page


@dataclass
class _StepRecord:
    step: int
    prompt_sha256: str
    prompt_tokens: int
    truncated: bool
    raw_output: str = ""
    completion_tokens: int = 0
    parse_method: str | None = None
    proposed: AgentAction | None = None
    action: AgentAction | None = None
    guards: list[str] = field(default_factory=list)
    outcome: Outcome = "ok"
    error: str = ""
    confidence: float | None = None
    generation_logprobs: bool = False
    demonstrated: AgentAction | None = None


def _screenshot(page: Page) -> bytes | None:
    try:
        return page.screenshot(type="png")
    except Exception:  # a screenshot is for the record; a page that cannot give one still runs
        return None


def _as_dict(action: AgentAction | None) -> dict[str, str | None] | None:
    return None if action is None else {"kind": action.kind, "target": action.target, "value": action.value}


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round((time.perf_counter() - started) * 1000, 3)
