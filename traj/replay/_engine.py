"""Re-executing a recorded demonstration in Chromium, step by step, as a ``replay/<id>`` stream.

Each step finds its element through the ladder (``_ladder``), acts, and checks the outcome
the demonstration saw after the same step (the value set, the page reached). A step is
``ok`` when the recorded fingerprint or top locator found the element, ``healed`` when a
lower rung had to, and ``failed`` with the reason and a screenshot otherwise; the replay
stops at the first failure. Locators that healed a step are appended to the demo's stream
(``locators.healed``), so the next replay tries them first; the recorded action stays.
A DRAG finds its drop target through the same ladder. A WAIT waits for what the person
waited for (a number crossing the goal's threshold, text appearing; ``_wait``), not for
their seconds, which only stand in when the demonstration shows no condition.

The demo's variables get their values from the goal (``goal``, else the goal the page states
in ``window.traj.goal``; :mod:`traj.replay._binding`), with ``variables`` overriding. A
typed or selected variable is typed or selected with its new value; a step whose element is
named by a variable (the button, tab or option the goal names) is located with the new value
in its recorded name, text and locators, and healed locators are stored with the demo's
value again.

With a ``policy``, a step the ladder cannot find or whose outcome check fails goes to the model
fallback (``_fallback``): the model decides it on the fresh page, its action is verified like
any step, and the step is recorded with ``source="model"``; the control it chose is written back
as the step's healing, so the next replay finds it without the model. At most
``max_model_steps`` steps a run, two attempts a step; without a policy a failure is reported as
the ladder saw it. Secrets (``{"secret": "NAME"}``) are
typed from ``TRAJ_SECRET_<NAME>`` (or the ``secrets`` given): every one the demo needs is
looked up before the replay starts, and one that is missing stops it with a one-line error.

With ``observe`` the replay also writes what an agent's run writes: before each step the page
as observed (``observation``) and, once the step ran, the ``action`` as done on this instance
(its element's id on this page, the bound value), and the page it ended on when every step ran.
A successful observed replay of another instance is then a demonstration of that instance that
nobody had to give: its states are what SDFT trains the student on beside the demo's own
(:func:`traj.datasets.instance_items`).
"""

from __future__ import annotations

import contextlib
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import msgspec
from playwright.sync_api import Error as PlaywrightError

from traj.browser import (
    Secrets,
    click,
    drag,
    install_snapshotter,
    judge_success,
    launch,
    locators_for,
    mark_secret,
    page_goal,
    resolve_locator,
    reveal_point,
    take_snapshot,
    unconfirmed_values,
)
from traj.errors import BrowserError, TargetNotFoundError, TrajError, VariableError, first_line, one_line
from traj.eventlog import (
    Action,
    LocatorsHealed,
    NewEvent,
    Observation,
    ReplayFinished,
    ReplayStarted,
    ReplayStep,
    Secret,
    Store,
    SuccessSpec,
    new_event_id,
)
from traj.projections import Demo, DemoStep, goal_template, load_demo, swap_values, template_parts
from traj.prompt import normalize_key
from traj.replay._binding import bind_goal, check_variable_names
from traj.replay._failure import ConditionNotMetError, StepFailedError
from traj.replay._fallback import ModelDecision, ModelFallback, ModelStepError
from traj.replay._ladder import Rung, Target, find_target, same_name
from traj.replay._wait import fold, wait_budget, wait_condition, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from traj.eventlog import Action, Element
    from traj.policy import Policy

__all__ = ["ReplayResult", "StepResult", "replay", "replay_demo"]

_POLL_S = 0.1
_GRACE_S = 1.0
_HOVER_MS = 400
"""How long a hover waits for a submenu (jQuery UI menus open 300 ms after the pointer arrives)."""
"""How long a step whose recorded control the page does not show waits before the model takes it
(a page that renders late shows it by then)."""
_READ_VALUE = """id => {
  const el = window.__traj && window.__traj.elementByAgentId(id);
  if (!el) return null;
  if (el.selectedOptions) return el.selectedOptions[0] ? el.selectedOptions[0].text.trim() : '';
  return 'value' in el ? el.value : el.innerText;
}"""
Status = Literal["ok", "healed", "failed"]
Source = Literal["workflow", "healed", "model"]
_PAGE_CHECK = SuccessSpec(page_check=True)
"""The spec of a demo recorded before specs were: the page's own ``window.traj.check()``."""


@dataclass(frozen=True)
class StepResult:
    """How one demonstrated step went."""

    step: int
    action_id: str
    kind: str
    status: Status
    strategy: str = ""
    locator: str = ""
    reason: str = ""
    duration_ms: float = 0.0
    source: Source = "workflow"
    """``workflow``: the recorded locators found the element; ``healed``: a lower rung did;
    ``model``: the model fallback took (or tried to take) the step."""
    value: str = ""
    """The value typed or selected ('' for a secret, whose value is never shown)."""
    agent_id: str = ""
    """The ``data-agent-id`` of the element acted on, on this page ('' for an untargeted or failed step)."""
    decision: ModelDecision | None = field(default=None, repr=False, compare=False)
    """On a ``model`` step, the model's last answer: the page it saw, its text, the action run."""


@dataclass(frozen=True)
class ReplayResult:
    """How a replay went: every step, and the verdict of the demo's success spec at the end.

    ``success`` is None (unknown) when the spec cannot say, never counted as success; every
    step running ``ok`` does not make a replay successful.
    """

    replay_id: str
    demo_id: str
    steps: list[StepResult]
    success: bool | None
    reason: str = ""

    @property
    def completed(self) -> bool:
        """Every step ran (ok or healed)."""
        return all(s.status != "failed" for s in self.steps)


def replay(
    store: Store,
    demo_id: str,
    *,
    url: str | None = None,
    seed: int | None = None,
    variables: dict[str, str] | None = None,
    heal: bool = True,
    headless: bool | None = None,
    slow_mo: float = 0,
    timeout_s: float = 10.0,
    secrets: Secrets | None = None,
    goal: str | None = None,
    policy: Policy | None = None,
    max_model_steps: int = 3,
    constrain: bool = True,
    observe: bool = False,
) -> ReplayResult:
    """Replay ``demo_id`` in a fresh Chromium; see :func:`replay_demo`.

    A demo recorded on a bundled site (its task names one, its URL is on loopback) is
    replayed on a freshly served copy of the sites, whatever port they had when recorded.
    """
    with contextlib.ExitStack() as stack:
        if url is None:
            url = _rebased_on_bundled_sites(load_demo(store, demo_id), stack)
        session = stack.enter_context(launch(headless=headless, slow_mo=slow_mo))
        return replay_demo(
            store,
            demo_id,
            session.page,
            url=url,
            seed=seed,
            variables=variables,
            heal=heal,
            timeout_s=timeout_s,
            secrets=secrets,
            goal=goal,
            policy=policy,
            max_model_steps=max_model_steps,
            constrain=constrain,
            observe=observe,
        )


def _rebased_on_bundled_sites(demo: Demo, stack: contextlib.ExitStack) -> str | None:
    from traj.sites import SITES, serve_sites

    parts = urllib.parse.urlsplit(demo.started.url)
    site = SITES.get(demo.started.task)
    if site is None or parts.hostname not in ("127.0.0.1", "localhost") or not parts.path.startswith(site.path):
        return None
    server = stack.enter_context(serve_sites())
    return urllib.parse.urlunsplit(parts._replace(netloc=urllib.parse.urlsplit(server.url).netloc))


def replay_demo(
    store: Store,
    demo_id: str,
    page: Page,
    *,
    url: str | None = None,
    seed: int | None = None,
    variables: dict[str, str] | None = None,
    heal: bool = True,
    timeout_s: float = 10.0,
    secrets: Secrets | None = None,
    goal: str | None = None,
    policy: Policy | None = None,
    max_model_steps: int = 3,
    constrain: bool = True,
    observe: bool = False,
) -> ReplayResult:
    """Replay ``demo_id`` on ``page`` and record it as ``replay/<id>``.

    ``seed`` reopens the demo's start URL with another ``seed=`` (the bundled sites); ``url``
    replaces the start URL outright. The demo's variables are bound from ``goal``
    (:func:`bind_goal`, ``policy`` filling a goal worded otherwise), else from the goal the
    opened page states, else keep the demonstrated values; ``variables`` overrides them, and
    a name the demo does not have raises VariableError before anything is recorded, as does
    a ``goal`` that cannot be bound (a stated goal that cannot be is a failed replay). ``heal``
    writes the locators of healed steps back to the demo's stream. ``secrets`` gives the
    values of the demo's secrets (default: ``TRAJ_SECRET_<NAME>``); a missing one raises
    :class:`~traj.errors.SecretMissingError` before anything is recorded. ``policy`` takes
    the steps the ladder cannot (at most ``max_model_steps``, see the module's docstring); it
    reads ``goal`` (default: the demo's own) and, with ``constrain`` and a backend that can,
    may only write actions valid on the page, as the agent. ``observe`` records each step's page
    and action as done here (see the module's docstring).
    """
    if max_model_steps < 0:
        raise TrajError(f"--max-model-steps must be 0 or more, got {max_model_steps}")
    demo = load_demo(store, demo_id)
    given = dict(variables or {})
    check_variable_names(demo, given)
    values = bind_goal(demo, goal, policy=policy, given=given) if goal is not None else None
    secrets = secrets or Secrets()
    for step in demo.steps:  # all of them now: not a half-done replay at the first password
        if isinstance(step.action.value, Secret):
            secrets.value(step.action.value.secret)
    replay_id = new_event_id()
    stream = f"replay/{replay_id}"
    start = _with_seed(url or demo.started.url, seed)
    seq = store.append(
        stream,
        [ReplayStarted(replay_id=replay_id, demo_id=demo_id, seed=seed, url=start, heal=heal)],
        expected_seq=0,
    ).next_seq
    install_snapshotter(page)  # before the page's scripts: it sees the click listeners they add
    try:
        page.goto(start)
    except PlaywrightError as exc:
        reason = f"cannot open {start}: {first_line(exc)}"
        store.append(
            stream,
            [ReplayFinished(replay_id=replay_id, demo_id=demo_id, success=False, reason=reason)],
            expected_seq=seq,
        )
        raise BrowserError(reason) from None
    if values is None:  # bound from the goal the page states (a bundled site's), if it states one
        goal = page_goal(page) or None
        try:
            values = bind_goal(demo, goal, policy=policy, given=given) if goal else given
        except VariableError as exc:
            finished = ReplayFinished(replay_id=replay_id, demo_id=demo_id, success=False, reason=str(exc))
            store.append(stream, [finished], expected_seq=seq)
            return ReplayResult(replay_id, demo_id, [], False, str(exc))
    fallback = None
    if policy is not None:
        fallback = ModelFallback(
            policy,
            store,
            demo,
            goal=goal or demo.started.goal,
            values=values,
            max_model_steps=max_model_steps,
            timeout_s=min(timeout_s, 5.0),
            secrets=secrets,
            constrain=constrain,
        )
    runner = _Runner(store, demo, page, replay_id, values, timeout_s, secrets, fallback)
    results: list[StepResult] = []
    # Step events are appended with the verdict in one durable append: a replay is in the log
    # whole, or (killed midway) as a start without a finish; one fsync instead of one a step.
    recorded: list[NewEvent] = []
    for index, step in enumerate(demo.steps):
        observed = runner.observe(index) if observe else None
        result, screenshot = runner.run(index, step)
        results.append(result)
        if observed is not None:
            recorded.append(observed)
            if result.status != "failed":
                recorded.append(NewEvent(data=runner.done(index, step, result, observed.event_id)))
        event = ReplayStep(
            replay_id=replay_id,
            demo_id=demo_id,
            step=result.step,
            action_id=result.action_id,
            status=result.status,
            strategy=result.strategy,
            locator=result.locator,
            reason=result.reason,
            screenshot=screenshot,
            duration_ms=result.duration_ms,
            source=result.source,
            raw_output=result.decision.raw_output if result.decision else "",
        )
        recorded.append(NewEvent(data=event, blobs=(screenshot,) if screenshot else ()))
        if result.status == "failed":
            break
    failed = next((r for r in results if r.status == "failed"), None)
    if failed is None and observe:  # the page it ended on, where the demonstration's FINISH is decided
        ended = runner.observe(len(demo.steps))
        recorded += [ended] if ended is not None else []
    if failed is None:
        unchecked = runner.unchecked(goal, moved=_moved(demo, start))
        unconfirmed = unconfirmed_values(demo.success_spec, demo.success_source, unchecked)
        verdict = judge_success(
            runner.page, demo.success_spec or _PAGE_CHECK, runner.bound_values(), unconfirmed=unconfirmed
        )
        success, reason = verdict.success, verdict.detail
    else:
        success, reason = False, failed.reason
    finished = ReplayFinished(replay_id=replay_id, demo_id=demo_id, success=success, reason=reason, goal=goal or "")
    store.append(stream, [*recorded, NewEvent(data=finished)], expected_seq=seq)
    if heal and runner.healed:
        demo_stream = f"demo/{demo_id}"
        healed = [
            LocatorsHealed(
                demo_id=demo_id,
                action_id=action_id,
                locators=locators,  # type: ignore[arg-type]
                replay_id=replay_id,
                element=runner.chosen.get(action_id, (None, ""))[0],
                context=runner.chosen.get(action_id, (None, ""))[1],
            )
            for action_id, locators in runner.healed.items()
        ]
        store.append(demo_stream, healed, expected_seq=None)  # at the end: a later heal supersedes
    return ReplayResult(replay_id, demo_id, results, success, reason)


class _Runner:
    """Executes the steps of one replay on a page (following popups)."""

    def __init__(
        self,
        store: Store,
        demo: Demo,
        page: Page,
        replay_id: str,
        values: dict[str, str],
        timeout_s: float,
        secrets: Secrets,
        fallback: ModelFallback | None = None,
    ) -> None:
        self.store, self.demo, self.page, self.replay_id = store, demo, page, replay_id
        self.values, self.secrets = values, secrets
        self.timeout_s = timeout_s
        self.fallback = fallback
        self._starts = (demo.started.url, page.url)
        """(recorded, replayed): the URL the demo started at and the one this replay started at."""
        self.healed: dict[str, list[tuple[str, str]]] = {}
        self.chosen: dict[str, tuple[Element, str]] = {}
        """action_id -> the control the model chose (and its surroundings), for the healing event."""
        self._pointed: tuple[float, float] | None = None
        """Where :meth:`_reveal` last moved the pointer (each place once)."""

    def run(self, index: int, step: DemoStep) -> tuple[StepResult, str | None]:
        """Execute one step; returns its result and, for a failure, the screenshot blob."""
        started = time.perf_counter()
        action = step.action
        decision: ModelDecision | None = None
        source: Source = "workflow"
        waited_in_vain = False
        try:
            strategy, value, healed, agent_id = self._execute(index, step)
            status: Status = "healed" if healed else "ok"
            source = "healed" if healed else "workflow"
            reason = ""
        except (TargetNotFoundError, StepFailedError) as exc:
            strategy, value, status, reason, agent_id = "", "", "failed", str(exc), ""
            waited_in_vain = isinstance(exc, ConditionNotMetError)
        except Exception as exc:  # a Playwright error: the page did not behave as recorded
            strategy, value, status, agent_id = "", "", "failed", ""
            reason = f"step {action.step} ({action.kind}): {one_line(exc)[:300]}"
        if status == "failed" and not waited_in_vain and self.fallback is not None and self.fallback.can_take(step):
            if self.fallback.exhausted:
                reason += f"; no model step left (--max-model-steps {self.fallback.max_model_steps} used)"
            else:
                source = "model"
                try:
                    self.page, decision = self.fallback.take(self.page, index, step, self._verifier(step))
                    agent_id = decision.action.target or ""  # type: ignore[union-attr]
                    strategy, value, status, reason = "model", agent_id, "healed", ""
                    if decision.locators and decision.element is not None:  # stored with the demo's values
                        back = {new: old for old, new in self._swaps(step).items()}
                        self.healed[step.action_id] = [(s, swap_values(v, back)) for s, v in decision.locators]
                        self.chosen[step.action_id] = (
                            _with_values(decision.element, back),
                            swap_values(decision.context, back),
                        )
                except ModelStepError as exc:
                    decision, reason = exc.decision, f"{reason}; {exc}"
        duration = (time.perf_counter() - started) * 1000
        screenshot = self._failure_screenshot() if status == "failed" else None
        shown = self._value(step)
        result = StepResult(
            action.step,
            step.action_id,
            action.kind,
            status,
            strategy,
            value,
            reason,
            duration,
            source,
            shown if isinstance(shown, str) else "",
            agent_id,
            decision,
        )
        return result, screenshot

    def observe(self, index: int) -> NewEvent | None:
        """The page before step ``index`` (after the last step, for ``len(demo.steps)``) as the agent
        would see it (no screenshot: states to train on); None when it cannot be read
        (mid-navigation, closed): the step still runs, and the replay then shows no whole instance
        to learn from."""
        try:
            snapshot = take_snapshot(self.page, screenshot=False)
        except (BrowserError, PlaywrightError):
            return None
        observation = Observation(
            url=snapshot.url, title=snapshot.title, text=snapshot.text, elements=snapshot.elements, step=index
        )
        return NewEvent(data=observation)

    def done(self, index: int, step: DemoStep, result: StepResult, observation_id: str) -> Action:
        """Step ``index`` as this replay did it: the element it acted on (its id on this page) and the
        value it typed or selected (a secret stays a reference)."""
        action = step.action
        target = (result.agent_id or None) if action.target is not None else None
        return Action(
            kind=action.kind, target=target, value=self._value(step), observation_id=observation_id, step=index
        )

    def _verifier(self, step: DemoStep) -> Callable[[Page, str], None]:
        """The outcome check of ``step`` on the element the model chose (on the page its action left)."""
        return lambda page, agent_id: self._verify(step, agent_id, self._value(step), page)

    def _failure_screenshot(self) -> str | None:
        """The page as the step failed; None when the page cannot be captured any more (closed,
        crashed, mid-navigation): the failure is still recorded, and the next instance still runs."""
        try:
            return self.store.put_blob(self.page.screenshot())
        except PlaywrightError:
            return None

    def _execute(self, index: int, step: DemoStep) -> tuple[str, str, bool, str]:
        action = step.action
        value = self._value(step)
        if action.kind == "NAVIGATE":
            self._navigate(value or "")
            return "", "", False, ""
        if action.kind == "WAIT":
            seconds = float(value or 0)
            if not self._wait_for_condition(index, step, seconds):  # nothing to wait for but the time
                self.page.wait_for_timeout(min(seconds, self.timeout_s) * 1000)
            return "", "", False, ""
        self._wait_for_condition(index, step, 0.0)
        if action.kind == "SCROLL":
            x, _, y = (value or "0,0").partition(",")
            self.page.evaluate("([x, y]) => window.scrollTo(x, y)", [float(x or 0), float(y or 0)])
            return "", "", False, ""
        recorded = step.target
        if recorded is None:
            if action.kind in ("PRESS_ENTER", "PRESS"):  # a key on whatever has the focus
                self.page.keyboard.press(_key_of(action.kind, value))
                return "", "", False, ""
            raise StepFailedError(f"step {action.step} ({action.kind}): the recorded target {action.target} is unknown")
        target = self._find(step)
        healed = target.strategy not in ("fingerprint", self._top_strategy(step))
        if healed:  # stored with the demo's values, as its recorded locators are
            back = {new: old for old, new in self._swaps(step).items()}
            self.healed[step.action_id] = [
                (s, swap_values(v, back)) for s, v in locators_for(self.page, target.agent_id)
            ]
            if step.action_id in self.demo.chosen:  # still the model's control, found another way
                self.chosen[step.action_id] = self.demo.chosen[step.action_id]
        self._act(index, step, target, value)
        self._verify(step, target.agent_id, value, self.page)
        return target.strategy, target.value, healed, target.agent_id

    def _failure_screenshot(self) -> str | None:
        """The page as the step failed on it; None when Chromium cannot capture it (a page closing
        under a popup): the failure is reported either way, never turned into a crash."""
        try:
            return self.store.put_blob(self.page.screenshot())
        except PlaywrightError:
            return None

    def _wait_for_condition(self, index: int, step: DemoStep, seconds: float) -> bool:
        """Wait for what the person waited for before step ``index`` (:mod:`traj.replay._wait`): a
        number crossing the goal's threshold, text appearing; False when the demo shows nothing to
        wait for. A condition that does not hold in its budget fails the step: acting early would
        only look "ok"."""
        condition = wait_condition(self.demo, index, self.bound_values())
        if condition is None:
            return False
        budget = wait_budget(seconds, self.timeout_s)
        if not wait_until(self.page, condition, budget):
            raise ConditionNotMetError(
                f"step {step.action.step} ({step.action.kind}): waited {budget:.1f} s for {condition.describe()}, "
                "which never held"
            )
        return True

    def _find(self, step: DemoStep) -> Target:
        """Climb the ladder until the element is there, or the step times out.

        A step whose element a variable names looks for the element with the new value in its
        name, text, surroundings and every locator: the button the new goal names.
        """
        assert step.target is not None
        action, recorded, healed = step.action, step.target, self.demo.healed.get(step.action_id)
        chosen = self.demo.chosen.get(step.action_id)
        if chosen is not None:  # the model took this step before: look for its control
            recorded, context = chosen
            action = msgspec.structs.replace(action, context=context)
        swaps = self._swaps(step)
        if swaps:
            action = msgspec.structs.replace(
                action,
                locators=[(s, swap_values(v, swaps)) for s, v in action.locators],
                context=swap_values(action.context, swaps),
            )
            recorded = _with_values(recorded, swaps)
            healed = [(s, swap_values(v, swaps)) for s, v in healed] if healed else None
        return self._climb(action, recorded, healed, ask_early=chosen is None and self._asks_early(step))

    def _asks_early(self, step: DemoStep) -> bool:
        """Whether the model may take ``step`` before the ladder's full timeout: it would take it
        now (a policy with steps left), and no variable names the element, so a recorded name
        absent from the page means the page's content chose another control, not a late render."""
        fallback = self.fallback
        return (
            fallback is not None
            and fallback.can_take(step)
            and not fallback.exhausted
            and not self.demo.variables_of(step.action_id)
        )

    def _swaps(self, step: DemoStep) -> dict[str, str]:
        """The demo's value -> the new value, for the variables naming this step's element."""
        if step.action.kind in ("TYPE", "SELECT"):
            return {}
        names = [n for n in self.demo.variables_of(step.action_id) if n in self.values and n in self.demo.defaults]
        return {self.demo.defaults[n]: self.values[n] for n in names if self.demo.defaults[n] != self.values[n]}

    def _find_drop(self, step: DemoStep) -> Target:
        """DRAG's drop target (``value``), found like a step's element with its own locators."""
        action = step.action
        recorded = next((e for e in step.observation.elements if e.agent_id == action.value), None)
        if recorded is None:
            raise StepFailedError(f"step {action.step} (DRAG): the recorded drop target {action.value} is unknown")
        as_target = msgspec.structs.replace(
            action, target=recorded.agent_id, locators=action.drop_locators, context=action.drop_context
        )
        return self._climb(as_target, recorded, None)

    def _climb(
        self, action: Action, recorded: Element, locators: list[tuple[str, str]] | None, *, ask_early: bool = False
    ) -> Target:
        """Climb the ladder until it finds the element or ``timeout_s`` passes.

        With ``ask_early`` the climb ends after a short grace (a page still rendering) when no
        control on the page has the recorded name: waiting the rest of the timeout for a
        control the page does not show only delays the model that will take the step.
        """
        started = time.monotonic()
        deadline, grace = started + self.timeout_s, started + min(_GRACE_S, self.timeout_s)
        while True:
            try:
                return find_target(self.page, action, recorded, locators=locators)
            except TargetNotFoundError as exc:
                now = time.monotonic()
                if now > deadline:
                    raise
                if self._reveal(exc.tried):
                    continue
                name = recorded.name or recorded.text
                if ask_early and now > grace:
                    if name and not self._named_on_page(name):
                        raise TargetNotFoundError(f"{exc}; nothing on the page is named {name!r}", exc.tried) from None
                    ask_early = False  # it is there but not yet right (hidden, elsewhere): wait for it
                self.page.wait_for_timeout(_POLL_S * 1000)

    def _reveal(self, tried: list[Rung]) -> bool:
        """Point at the item that shows the control when the fingerprint found it hidden inside a
        list, menu or tree (a submenu opens on hover: the person's pointer went there on its way,
        which the recording, made of clicks, does not hold). True when the pointer moved."""
        hidden = next((r for r in tried if "hidden" in r.problem and r.strategy != "text_fuzzy"), None)
        if hidden is None:
            return False
        strategy = "agent_id" if hidden.strategy == "fingerprint" else hidden.strategy
        point = reveal_point(resolve_locator(self.page, strategy, hidden.value))
        if point is None or point == self._pointed:
            return False
        self._pointed = point
        self.page.mouse.move(*point)
        self.page.wait_for_timeout(_HOVER_MS)
        return True

    def _named_on_page(self, name: str) -> bool:
        """Whether a control on the page has ``name`` (cosmetic differences aside)."""
        elements = take_snapshot(self.page, screenshot=False, mark_new=False).elements
        return any(same_name(e.name or e.text, name) for e in elements)

    def _act(self, index: int, step: DemoStep, target: Target, value: str | Secret | None) -> None:
        kind = step.action.kind
        if kind == "CLICK":
            button = value if isinstance(value, str) else None
            if self._next_is_popup(index):
                with self.page.context.expect_page() as popup:
                    click(self.page, target.locator, button)
                self.page = popup.value
                self.page.wait_for_load_state()
            else:
                click(self.page, target.locator, button)
        elif kind == "TYPE":
            target.locator.fill(self.secrets.resolve(value) or "")
            if isinstance(value, Secret):
                mark_secret(self.page, target.agent_id)  # a failure's screenshot must not show it
        elif kind == "SELECT":
            target.locator.select_option(label=value)
        elif kind in ("PRESS_ENTER", "PRESS"):
            target.locator.press(_key_of(kind, value))
        elif kind == "DRAG":
            drag(self.page, target.locator, self._find_drop(step).locator, timeout_ms=self.timeout_s * 1000)
        else:
            raise StepFailedError(f"step {step.action.step}: cannot replay a {kind} on an element")

    def _verify(self, step: DemoStep, agent_id: str, value: str | Secret | None, page: Page) -> None:
        """The outcome the demonstration saw after this step: the value is set.

        A field the page replaced right away (a re-render) cannot be read back; that is not
        a failure, the next step's own checks catch a page that went elsewhere.
        """
        kind = step.action.kind
        if kind not in ("TYPE", "SELECT") or step.target is None:
            return
        try:  # straight to the element by its agent id: one cheap round trip, no locator machinery
            actual = page.evaluate(_READ_VALUE, agent_id)
        except PlaywrightError:
            return
        if actual is None:
            return
        if isinstance(value, Secret):  # compared, never shown
            if actual != self.secrets.value(value.secret):
                raise StepFailedError(
                    f"step {step.action.step}: typed secret {value.secret!r} but the field holds another value"
                )
            return
        if actual != (value or ""):
            verb, place = ("typed", "field holds") if kind == "TYPE" else ("selected", "list shows")
            raise StepFailedError(f"step {step.action.step}: {verb} {value!r} but the {place} {actual!r}")

    def _navigate(self, value: str) -> None:
        if value.startswith("popup:"):
            return  # the click before it opened the page and the runner followed it
        value = _on_this_instance(value, *self._starts)
        if _same_page(self.page.url, value):
            return
        try:  # most navigations follow the previous step (a link, a submit)
            self.page.wait_for_url(lambda url: _same_page(url, value), timeout=min(3.0, self.timeout_s) * 1000)
        except Exception:
            self.page.goto(value)  # a typed URL, back/forward: go there as the person did

    def _value(self, step: DemoStep) -> str | Secret | None:
        return self.demo.value_of(step, self.values)

    def bound_values(self) -> dict[str, str]:
        """Every variable's value in this replay: the new one, else the one demonstrated."""
        return self.demo.defaults | self.values

    def unchecked(self, goal: str | None, *, moved: bool) -> list[str]:
        """What this run did that the replay did not check itself, for a success spec to vouch for.

        Each step checked its own part: a control found by the name the goal gave it, a field
        that holds the value typed, a threshold waited for. What no step checks is whether those
        were this instance's values: the goal (given, or the page's) says so only where it is
        the demo's goal with the bound values; a goal that differs elsewhere (a value no step
        uses), or none on another page (``moved``), leaves every variable unchecked. On another
        page a value typed as demonstrated that is no variable may be the page's own content
        (looked up in a table), so it is unchecked too.
        """
        if goal is not None and fold(goal) != fold(_goal_with(self.demo, self.bound_values())):
            return ["goal"]
        if not moved:
            return []
        names = [] if goal is not None else list(self.demo.variables) or ["goal"]
        constants = [
            f"step {step.action.step}'s value {step.action.value!r}"
            for step in self.demo.steps
            if step.action.kind in ("TYPE", "SELECT")
            and isinstance(step.action.value, str)
            and self.demo.variable_of(step.action_id) is None
        ]
        return names + constants

    def _top_strategy(self, step: DemoStep) -> str:
        locators = self.demo.healed.get(step.action_id) or step.action.locators
        return locators[0][0] if locators else ""

    def _next_is_popup(self, index: int) -> bool:
        steps = self.demo.steps
        following = steps[index + 1].action if index + 1 < len(steps) else None
        return bool(following and following.kind == "NAVIGATE" and (following.value or "").startswith("popup:"))


def _moved(demo: Demo, start: str) -> bool:
    """Whether a replay starts on another page than the demonstration (path or query: another
    instance; a new host or port is the same site served elsewhere)."""
    recorded, replayed = urllib.parse.urlsplit(demo.started.url), urllib.parse.urlsplit(start)
    return (recorded.path, recorded.query) != (replayed.path, replayed.query)


def _goal_with(demo: Demo, values: dict[str, str]) -> str:
    """The demo's goal with each variable's value replaced by its value in ``values``."""
    parts = template_parts(goal_template(demo.started.goal, demo.defaults))
    return "".join(literal if name is None else values.get(name, "") for literal, name in parts)


def _with_values(element: Element, swaps: dict[str, str]) -> Element:
    """``element`` with each old value (key) in its name, text and attributes replaced by the new one."""
    return msgspec.structs.replace(
        element,
        name=swap_values(element.name, swaps),
        text=swap_values(element.text, swaps),
        attrs={k: swap_values(v, swaps) for k, v in element.attrs.items()},
    )


def _key_of(kind: str, value: str | Secret | None) -> str:
    """The key a PRESS_ENTER or PRESS step presses, in Playwright's spelling."""
    return "Enter" if kind == "PRESS_ENTER" else normalize_key(value if isinstance(value, str) else "")


def _with_seed(url: str, seed: int | None) -> str:
    """``url`` with its ``seed=`` query parameter set to ``seed`` (unchanged when seed is None)."""
    if seed is None:
        return url
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query)) | {"seed": str(seed)}
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _on_this_instance(url: str, recorded_start: str, replay_start: str) -> str:
    """A URL the demonstration went to, as it reads on the instance this replay runs on.

    On the demo's own site, the host becomes the replay's (the site moved: another port or
    host), and every query parameter the demo's start URL carried with the same value (the
    instance's: ``seed=0``, an account or record id) takes the value the replay's start URL
    gives it. Without this, a typed or back/forward navigation would take the replay back to
    the demonstrated instance, and its success would be judged there.
    """
    parts, recorded, replayed = (urllib.parse.urlsplit(u) for u in (url, recorded_start, replay_start))
    if parts.netloc != recorded.netloc:
        return url
    given, now = dict(urllib.parse.parse_qsl(recorded.query)), dict(urllib.parse.parse_qsl(replayed.query))
    query = [
        (key, now[key] if given.get(key) == value and key in now else value)
        for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urllib.parse.urlunsplit(parts._replace(netloc=replayed.netloc, query=urllib.parse.urlencode(query)))


def _same_page(a: str, b: str) -> bool:
    """Same page ignoring the query's seed-specific values: scheme, host and path match."""
    pa, pb = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    return (pa.scheme, pa.netloc, pa.path) == (pb.scheme, pb.netloc, pb.path)
