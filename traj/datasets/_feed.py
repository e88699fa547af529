"""The SDFT training feed: one item per demonstrated decision, from events and projections only.

The decisions are the recorded actions and, where the person ended a demonstration with the
task done, the FINISH on the page it ended on (:func:`traj.prompt.finish_step`).

An item is what the student sees (the agent's own prompt: goal, the page as observed, the
actions so far), what only the teacher sees (the whole demonstration, each step explained by
its enrichment when one exists, the raw action JSON otherwise) and the target action. Prompts
come from :func:`traj.prompt.build_prompt`, so training sees exactly what the agent will. The
items are the rows of the ``sdft_examples`` projection, whose teacher context
:func:`traj.prompt.render_teacher_context` renders (one text for SQL and training); by default
only steps that the demo's latest replay ran (ok or healed) are fed, so a demo that no longer
replays does not teach. The ``sdft`` export (:mod:`traj.datasets._export`) is these items too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from traj.errors import TrainingError
from traj.projections import Demo, Projections, demo_from, instance_of, teacher_step
from traj.prompt import (
    HistoryEntry,
    action_json,
    action_schema,
    approx_tokens,
    build_prompt,
    finish_step,
    refer_values,
    render_teacher_context,
)

if TYPE_CHECKING:
    from traj.eventlog import Enrichment, Event, Observation, Store

__all__ = [
    "TEACHER_LAYOUTS",
    "SdftItem",
    "TeacherLayout",
    "chosen_steps",
    "feed_items",
    "instance_feed",
    "instance_items",
    "latest_replay_status",
    "observed_replays",
    "sdft_action_ids",
    "sdft_items",
    "transfer_items",
]

TeacherLayout = Literal["rules", "appended"]
TEACHER_LAYOUTS: tuple[str, ...] = ("rules", "appended")
"""Where the teacher's prompt holds the demonstration: ``rules`` (traj's default: right after the
rules, before the goal and the page, which truncation cuts first) or ``appended`` (after the whole
student prompt and a blank line: what TRL's ``SDFTTrainer`` builds with its default
``teacher_prompt_template``, so traj and TRL then train against the same teacher text)."""


@dataclass(frozen=True)
class SdftItem:
    """One training query for self-distillation."""

    demo_id: str
    step: int
    action_id: str
    query: str
    """The student's prompt: the agent's prompt at this step (rules, goal, actions so far, page)."""
    context: str
    """The teacher's privileged context: the whole demonstration, enriched where possible."""
    teacher_query: str
    """The teacher's prompt: ``query`` with ``context`` inserted after the rules (layout ``rules``),
    or ``query``, a blank line and ``context`` (layout ``appended``)."""
    target: str
    """The demonstrated action as JSON."""
    context_source: str
    """``enrichment`` when this step's own enrichment is in the context, else ``raw_action``."""
    verified: bool
    """The demo's latest replay ran this step (ok or healed)."""
    stream: str
    """The demo's stream (``demo/<demo_id>``)."""
    task: str | None
    schema: str = ""
    """The JSON schema of the actions valid on this step's page (:func:`traj.prompt.action_schema`
    of the goal and the observation), as compact JSON: the constraint the agent decodes under on
    that page, and so the one SDFT's on-policy rollouts are drawn under."""


def sdft_items(
    store: Store,
    *,
    verified_only: bool = True,
    demo_ids: Collection[str] | None = None,
    budget_tokens: int = 1536,
    count_tokens: Callable[[str], int] = approx_tokens,
    fit_teacher: bool = False,
    teacher_layout: TeacherLayout = "rules",
) -> Iterator[SdftItem]:
    """Yield the SDFT items of every demonstration in ``store`` (or of ``demo_ids``), in log order.

    ``budget_tokens`` and ``count_tokens`` budget each prompt as the agent does (pass the
    model's context and tokenizer). The teacher's prompt gets the same page budget plus the
    demonstration; with ``fit_teacher`` (``budget_tokens`` is then all the model can take) it
    stays within ``budget_tokens`` too, its page cut shorter to make room for the demonstration.
    ``teacher_layout`` places the demonstration (:data:`TEACHER_LAYOUTS`); ``appended`` is never
    cut to fit, as TRL does not cut it.
    """
    with Projections(store) as projections:
        chosen = chosen_steps(projections, verified_only, demo_ids)
    yield from feed_items(
        chosen,
        lambda stream: store.events(stream=stream),
        budget_tokens=budget_tokens,
        count_tokens=count_tokens,
        fit_teacher=fit_teacher,
        teacher_layout=teacher_layout,
    )


def transfer_items(
    store: Store,
    *,
    teacher_demo_id: str,
    demo_ids: Collection[str],
    budget_tokens: int = 1536,
    count_tokens: Callable[[str], int] = approx_tokens,
    contexts: Mapping[str, str] | None = None,
) -> Iterator[SdftItem]:
    """The decisions of ``demo_ids`` (other instances of a task), the teacher's context being
    ``teacher_demo_id``'s demonstration instead of their own, or ``contexts[demo_id]`` where
    given (that demonstration as it would go on the instance: :func:`traj.replay.instance_demonstration`).

    SDFT's gate: the teacher can only teach what it gets right with one demonstration in
    context on states the student will meet, i.e. on instances that demonstration was not of.
    Every step of ``demo_ids`` is fed, replayed or not (these are measurements, not training).
    """
    contexts = contexts or {}
    with Projections(store) as projections:
        rows = projections.query(
            "SELECT context FROM sdft_examples WHERE demo_id = $demo LIMIT 1", {"demo": teacher_demo_id}
        ).to_pylist()
        if not rows:
            raise TrainingError(f"no demonstrated steps in demo {teacher_demo_id} (see 'traj demos')")
        chosen = chosen_steps(projections, False, set(demo_ids))
    context = rows[0]["context"]
    yield from feed_items(
        [({**row, "context": contexts.get(row["demo_id"], context)}, verified) for row, verified in chosen],
        lambda stream: store.events(stream=stream),
        budget_tokens=budget_tokens,
        count_tokens=count_tokens,
    )


def feed_items(
    chosen: list[tuple[dict[str, Any], bool]],
    events_of: Callable[[str], list[Event]],
    *,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    fit_teacher: bool = False,
    teacher_layout: TeacherLayout = "rules",
) -> Iterator[SdftItem]:
    """The items of ``chosen`` ``sdft_examples`` rows (each with whether a replay verified it),
    their demos folded from ``events_of(stream)``; see :func:`sdft_items` for the budgets."""
    if teacher_layout not in TEACHER_LAYOUTS:
        raise TrainingError(f"unknown teacher layout {teacher_layout!r}; use one of {', '.join(TEACHER_LAYOUTS)}")
    demos: dict[str, Demo] = {}
    for row, verified in chosen:
        stream = row["stream"]
        demo = demos.get(stream) or demos.setdefault(stream, demo_from(row["demo_id"], events_of(stream)))
        index = next(i for i, s in enumerate(demo.steps) if s.action_id == row["action_id"])
        for decision in _decisions_at(demo, index):  # after the last step, its FINISH too
            yield _item(
                demo,
                decision,
                row["context"],
                row["context_source"],
                verified=verified,
                stream=stream,
                task=row["task"],
                budget_tokens=budget_tokens,
                count_tokens=count_tokens,
                fit_teacher=fit_teacher,
                teacher_layout=teacher_layout,
            )


def instance_items(
    store: Store,
    *,
    demo_ids: Collection[str] | None = None,
    budget_tokens: int = 1536,
    count_tokens: Callable[[str], int] = approx_tokens,
    fit_teacher: bool = False,
    teacher_layout: TeacherLayout = "rules",
) -> Iterator[SdftItem]:
    """The items of every observed replay that succeeded on another instance of a demo's task
    (of ``demo_ids``, or of every demo): its pages, its actions, and as the teacher's context the
    demonstration as it went on that instance (its goal, its values, its element ids, the demo's
    enrichment with the values swapped).

    The demonstration stays one; the instances give the student states where the values differ,
    so what it learns is where each value comes from (:func:`traj.projections.instance_of`). The
    budgets are :func:`sdft_items`'s. ``stream`` is the replay's, ``demo_id`` the demo's.
    """
    with Projections(store) as projections:
        replays = observed_replays(projections, demo_ids)
    yield from instance_feed(
        replays,
        lambda stream: store.events(stream=stream),
        budget_tokens=budget_tokens,
        count_tokens=count_tokens,
        fit_teacher=fit_teacher,
        teacher_layout=teacher_layout,
    )


def observed_replays(projections: Projections, demo_ids: Collection[str] | None = None) -> list[dict[str, str]]:
    """The successful replays (of ``demo_ids``, or of every demo) that observed the pages they
    went through: the others hold no instance to learn from. Rows of ``replay_id``, ``demo_id``."""
    rows = projections.query(
        "SELECT replay_id, demo_id FROM replays r WHERE success AND EXISTS "
        "(SELECT 1 FROM observations o WHERE o.stream = 'replay/' || r.replay_id) ORDER BY replay_id"
    ).to_pylist()
    if demo_ids is None:
        return rows
    wanted = set(demo_ids)
    return [row for row in rows if row["demo_id"] in wanted]


def instance_feed(
    replays: list[dict[str, str]],
    events_of: Callable[[str], list[Event]],
    *,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    fit_teacher: bool = False,
    teacher_layout: TeacherLayout = "rules",
) -> Iterator[SdftItem]:
    """The items of ``replays`` (:func:`observed_replays`), every stream read with ``events_of``
    (the live store's, or an export's below its log position); see :func:`instance_items`."""
    demos: dict[str, tuple[Demo, dict[str, Enrichment]]] = {}  # read once per demo, however many instances
    for row in replays:
        demo_id = row["demo_id"]
        if demo_id not in demos:
            enriched = events_of(f"enrich/{demo_id}")
            demos[demo_id] = (
                demo_from(demo_id, events_of(f"demo/{demo_id}")),
                {e.data.action_id: e.data for e in enriched if e.type == "enrichment"},
            )
        demo, enrichments = demos[demo_id]
        stream = f"replay/{row['replay_id']}"
        instance = instance_of(demo, events_of(stream))
        if instance is None:
            continue
        context = _instance_context(demo, instance, enrichments)
        for index, shown in enumerate(demo.steps):
            source = "enrichment" if shown.action_id in enrichments else "raw_action"
            for decision in _decisions_at(instance, index):
                yield _item(
                    instance,
                    decision,
                    context,
                    source,
                    verified=True,
                    stream=stream,
                    task=demo.started.task,
                    budget_tokens=budget_tokens,
                    count_tokens=count_tokens,
                    fit_teacher=fit_teacher,
                    teacher_layout=teacher_layout,
                )


def _instance_context(demo: Demo, instance: Demo, enrichments: Mapping[str, Enrichment]) -> str:
    """The teacher's context on ``instance``: the demo's steps as done there, each explained by
    its ``enrichments`` (action id -> the latest) with the demonstrated values swapped."""
    swaps = {
        shown.action.value: done.action.value
        for shown, done in zip(demo.steps, instance.steps, strict=True)
        if isinstance(shown.action.value, str) and isinstance(done.action.value, str)
        if shown.action.value and shown.action.value != done.action.value
    }
    steps = [
        teacher_step(action_json(done.action), enrichments.get(shown.action_id), swaps)
        for shown, done in zip(demo.steps, instance.steps, strict=True)
    ]
    if instance.concluded:
        steps.append(finish_step(instance.answer))
    return render_teacher_context(instance.started.goal, steps)


@dataclass(frozen=True)
class _Decision:
    """One decision of a demonstration to teach: the page it was made on, the steps before it,
    the action taken as the policy emits it, and the event that records it."""

    page: Observation
    history: list[HistoryEntry]
    action: str
    event_id: str
    step: int
    concludes: bool = False
    """The FINISH after the last step: no enrichment explains it."""


def _decisions_at(demo: Demo, index: int) -> list[_Decision]:
    """Step ``index``'s decision; after the last step of a concluded demo (:attr:`Demo.concluded`)
    with its end page, the FINISH decided there too (recorded by the event that ended it)."""
    history = [HistoryEntry(action_json(step.action)) for step in demo.steps[: index + 1]]
    step = demo.steps[index]
    decisions = [_Decision(step.observation, history[:-1], action_json(step.action), step.action_id, step.action.step)]
    if index == len(demo.steps) - 1 and demo.concluded and demo.final is not None and demo.finished_id:
        finish = finish_step(demo.answer).action
        decisions.append(_Decision(demo.final, history, finish, demo.finished_id, step.action.step + 1, True))
    return decisions


def _item(
    demo: Demo,
    decision: _Decision,
    context: str,
    context_source: str,
    *,
    verified: bool,
    stream: str,
    task: str | None,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    fit_teacher: bool,
    teacher_layout: TeacherLayout,
) -> SdftItem:
    """The item of ``decision`` of ``demo`` with the teacher's ``context``."""
    teacher_budget = budget_tokens if fit_teacher else budget_tokens + count_tokens(context)
    query = _query(demo, decision, None, budget_tokens, count_tokens)
    page = decision.page
    schema = action_schema(demo.started.goal, page.elements, page.text, url=page.url)
    return SdftItem(
        demo_id=demo.demo_id,
        step=decision.step,
        action_id=decision.event_id,
        query=query,
        context=context,
        teacher_query=f"{query}\n\n{context}"
        if teacher_layout == "appended"
        else _query(demo, decision, context, teacher_budget, count_tokens),
        target=refer_values(decision.action, demo.started.goal),
        context_source="raw_action" if decision.concludes else context_source,
        verified=verified,
        stream=stream,
        task=task,
        schema=json.dumps(schema, separators=(",", ":")),
    )


def sdft_action_ids(store: Store, *, verified_only: bool = True, demo_ids: Collection[str] | None = None) -> list[str]:
    """The recorded actions :func:`sdft_items` would teach (its FINISH items aside), without rendering a prompt."""
    with Projections(store) as projections:
        return [row["action_id"] for row, _ in chosen_steps(projections, verified_only, demo_ids)]


def chosen_steps(
    projections: Projections, verified_only: bool, demo_ids: Collection[str] | None
) -> list[tuple[dict[str, Any], bool]]:
    """The ``sdft_examples`` rows to use, in log order, each with whether a replay verified its step."""
    rows = projections.query(
        "SELECT demo_id, stream, action_id, task, context, context_source FROM sdft_examples ORDER BY position"
    ).to_pylist()
    replayed = latest_replay_status(projections)
    chosen = []
    for row in rows:
        verified = replayed.get(row["action_id"]) in ("ok", "healed")
        if (verified or not verified_only) and (demo_ids is None or row["demo_id"] in demo_ids):
            chosen.append((row, verified))
    return chosen


def _query(
    demo: Demo, decision: _Decision, demonstration: str | None, budget_tokens: int, count_tokens: Callable[[str], int]
) -> str:
    return build_prompt(
        demo.started.goal,
        decision.page,
        decision.history,
        demonstration=demonstration,
        budget_tokens=budget_tokens,
        count_tokens=count_tokens,
    ).text


def latest_replay_status(projections: Projections) -> dict[str, str]:
    """Each replayed action's status in its latest replay (``ok``, ``healed``, ``failed``)."""
    rows = projections.query(
        "SELECT action_id, status FROM replay_steps "
        "QUALIFY row_number() OVER (PARTITION BY action_id ORDER BY position DESC) = 1"
    ).to_pylist()
    return {row["action_id"]: row["status"] for row in rows}
