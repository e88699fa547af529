"""Training-data exports: the decision views rendered as datasets, reproducible to the byte.

Four strategies, each a function of the log below one position (``as_of``):

- ``from_feedback``: one row per labelled decision (:data:`decisions`): ``input``
  ``{pageSnapshot, task, history}``, ``output`` ``{action, selectorOrRef, value}``, ``label``,
  and ``prompt``/``completion`` for TRL's ``SFTTrainer`` (keep ``label == "good"`` rows).
- ``from_runs``: one row per run with its whole trajectory, or (``per_decision``) the same
  steps one row each, each with ``prompt``/``completion`` (what the agent answered).
- ``sdft``: the SDFT feed's items (:func:`traj.datasets.sdft_items`), every step, verified or
  not, then those of the demos' observed replays on other instances
  (:func:`traj.datasets.instance_items`; ``stream`` is the replay's), as ``traj train`` takes
  them: ``prompt``/``completion`` (an SFT dataset as it is), ``privileged_context`` (the
  demonstration, the column TRL's experimental ``SDFTTrainer`` reads) and ``teacher_prompt``
  (traj's teacher: the demonstration after the rules). TRL's teacher puts the context after
  the whole prompt instead, and its template cannot move it (the template must hold a
  ``{prompt}`` field, which renders the whole prompt); ``teacher_layout="appended"`` makes
  traj's teacher TRL's (``traj export/train --teacher-layout appended``).
- ``preference``: ``prompt``, ``chosen``, ``rejected`` for the same context (TRL's ``DPOTrainer``).

Every ``prompt`` is TRL's conversational form of :func:`traj.prompt.build_prompt` over the
recorded observation and the actions before it: one user turn, as :func:`traj.prompt.chat_text`
gives it to the model, so a trainer applying the tokenizer's chat template teaches on exactly
the text the agent reads; every answer (``completion``, ``chosen``, ``rejected``) is one
assistant turn, as the model writes it (a value of the goal as its ``$N``,
:func:`traj.prompt.refer_values`; the ``output``/``action`` columns hold the text typed).
Integers are int64 in both formats (what a JSON reader infers). Rows are ordered by stream and
step, never by log position, and carry no timestamps: appending other streams in another order
gives the same bytes, and ``as_of`` pins everything else.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import pyarrow as pa

from traj.datasets._feed import TeacherLayout, chosen_steps, feed_items, instance_feed, observed_replays
from traj.errors import TrajError, one_line
from traj.eventlog import write_durably
from traj.projections import Projections
from traj.prompt import (
    HistoryEntry,
    approx_tokens,
    build_prompt,
    history_entry,
    refer_values,
    render_snapshot,
    taught_action,
)

if TYPE_CHECKING:
    from traj.eventlog import Event, Observation, Store

__all__ = ["FORMATS", "STRATEGIES", "Export", "export_bytes", "export_dataset", "write_export"]

Strategy = Literal["from_feedback", "from_runs", "sdft", "preference"]
Format = Literal["jsonl", "parquet"]
STRATEGIES: tuple[str, ...] = ("from_feedback", "from_runs", "sdft", "preference")
FORMATS: tuple[str, ...] = ("jsonl", "parquet")


@dataclass(frozen=True)
class Export:
    """A dataset as of one log position: pass ``as_of`` again to get the same rows later."""

    strategy: str
    as_of: int
    table: pa.Table


def export_dataset(
    store: Store,
    strategy: Strategy,
    *,
    as_of: int | None = None,
    per_decision: bool = False,
    budget_tokens: int = 1536,
    count_tokens: Callable[[str], int] | None = None,
    teacher_layout: TeacherLayout = "rules",
) -> Export:
    """Build the ``strategy`` dataset from the events before ``as_of`` (default: all of them).

    ``budget_tokens`` and ``count_tokens`` budget each prompt as the agent does (pass the
    policy's context and tokenizer to match its prompts when a page is over budget).
    ``teacher_layout`` (``sdft``) places the demonstration in ``teacher_prompt``
    (:data:`traj.datasets.TEACHER_LAYOUTS`: ``appended`` is TRL's SDFT teacher). An
    ``as_of`` past the log's end is refused: the file would change as the log grows.
    """
    if strategy not in STRATEGIES:
        raise TrajError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    end = store.snapshot().end
    if as_of is None:
        as_of = end
    elif not 0 <= as_of <= end:
        raise TrajError(f"--as-of {as_of} is outside the log (positions 0..{end}): the export could not be rebuilt")
    renderer = _Renderer(store, as_of, budget_tokens, count_tokens or approx_tokens, teacher_layout)
    with Projections(store, as_of=as_of) as projections:
        build = _BUILDERS[strategy]
        rows = build(projections, renderer, per_decision)
    schema = _schema(strategy, per_decision)
    return Export(strategy, as_of, pa.Table.from_pylist(rows, schema=schema))


def export_bytes(export: Export, fmt: Format) -> bytes:
    """The dataset file's bytes: JSON lines (keys in column order) or zstd Parquet."""
    if fmt == "jsonl":
        encoder = msgspec.json.Encoder()
        return b"".join(encoder.encode(row) + b"\n" for row in export.table.to_pylist())
    if fmt == "parquet":
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(export.table, buffer, compression="zstd")
        return buffer.getvalue()
    raise TrajError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def write_export(export: Export, path: str | Path, fmt: Format) -> Path:
    """Write the dataset to ``path`` durably (temp file, fsync, rename: a reader never sees half a file).

    The directory must exist: a mistyped one is refused rather than created.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise TrajError(f"cannot write {path}: directory {path.parent} does not exist")
    data = export_bytes(export, fmt)
    try:
        write_durably(path, data)
    except OSError as exc:
        raise TrajError(f"cannot write {path}: {one_line(exc)}") from None
    return path


# ---------------------------------------------------------------- strategies


def _from_feedback(projections: Projections, renderer: _Renderer, per_decision: bool) -> list[dict[str, Any]]:
    rows = projections.query(
        "SELECT stream, step, observation_id, action_id, feedback_id, origin, label, task, goal, kind, target, value "
        "FROM decisions ORDER BY stream, step, origin = 'correction', action_id"
    ).to_pylist()
    out = []
    for row in rows:
        page = renderer.page(row["stream"], row["observation_id"])
        history = renderer.history(row["stream"], row["step"])
        out.append(
            {
                "stream": row["stream"],
                "step": row["step"],
                "label": row["label"],
                "origin": row["origin"],
                "input": {
                    "pageSnapshot": _snapshot(page),
                    "task": row["goal"],
                    "history": [entry.render(n) for n, entry in enumerate(history, start=1)],
                },
                "output": {"action": row["kind"], "selectorOrRef": row["target"], "value": row["value"]},
                "prompt": _user(renderer.prompt(row["goal"], page, history)),
                "completion": _assistant(
                    refer_values(_action_json(row["kind"], row["target"], row["value"]), row["goal"])
                ),
                "task": row["task"],
                "action_id": row["action_id"],
                "feedback_id": row["feedback_id"],
            }
        )
    return out


def _from_runs(projections: Projections, renderer: _Renderer, per_decision: bool) -> list[dict[str, Any]]:
    runs = projections.query(
        "SELECT r.stream, r.run_id, r.task, r.goal, r.success, r.reason, r.answer, f.label AS run_label "
        "FROM runs r LEFT JOIN feedback f ON f.target = r.stream AND f.step IS NULL AND f.latest ORDER BY r.stream"
    ).to_pylist()
    steps: dict[str, list[dict[str, Any]]] = {}
    for row in projections.query(
        "SELECT stream, step, outcome, raw_output, CAST(action AS VARCHAR) AS action, error, observation_id, "
        "action_id, label FROM run_decisions ORDER BY stream, step"
    ).to_pylist():
        steps.setdefault(row["stream"], []).append(row)
    out = []
    for run in runs:
        decisions = []
        for step in steps.get(run["stream"], []):
            page = renderer.page(run["stream"], step["observation_id"])
            action = None if step["action"] is None else _canonical(step["action"])
            decisions.append(
                {
                    "step": step["step"],
                    "outcome": step["outcome"],
                    "raw_output": step["raw_output"],
                    "action": action,
                    "error": step["error"],
                    "label": step["label"],
                    "prompt": _user(renderer.prompt(run["goal"], page, renderer.history(run["stream"], step["step"]))),
                    "completion": _assistant(
                        refer_values(action, run["goal"]) if action is not None else step["raw_output"]
                    ),
                    "action_id": step["action_id"],
                }
            )
        if per_decision:
            out += [run | decision for decision in decisions]
        else:
            out.append(run | {"decisions": decisions})
    return out


def _sdft(projections: Projections, renderer: _Renderer, per_decision: bool) -> list[dict[str, Any]]:
    budget = {
        "budget_tokens": renderer.budget_tokens,
        "count_tokens": renderer.count_tokens,
        "teacher_layout": renderer.teacher_layout,
    }
    items = [
        *feed_items(chosen_steps(projections, verified_only=False, demo_ids=None), renderer.events, **budget),
        *instance_feed(observed_replays(projections), renderer.events, **budget),
    ]
    return [
        {
            "stream": item.stream,
            "demo_id": item.demo_id,
            "step": item.step,
            "prompt": _user(item.query),
            "completion": _assistant(item.target),
            "privileged_context": item.context,
            "teacher_prompt": _user(item.teacher_query),
            "context_source": item.context_source,
            "verified": item.verified,
            "task": item.task,
            "action_id": item.action_id,
        }
        for item in sorted(items, key=lambda item: (item.stream, item.step))
    ]


def _preference(projections: Projections, renderer: _Renderer, per_decision: bool) -> list[dict[str, Any]]:
    rows = projections.query(
        "SELECT stream, step, observation_id, action_id, feedback_id, task, goal, "
        "CAST(chosen AS VARCHAR) AS chosen, CAST(rejected AS VARCHAR) AS rejected "
        "FROM decision_pairs ORDER BY stream, step"
    ).to_pylist()
    return [
        {
            "stream": row["stream"],
            "step": row["step"],
            "prompt": _user(
                renderer.prompt(
                    row["goal"],
                    renderer.page(row["stream"], row["observation_id"]),
                    renderer.history(row["stream"], row["step"]),
                )
            ),
            "chosen": _assistant(refer_values(_canonical(row["chosen"]), row["goal"])),
            "rejected": _assistant(refer_values(_canonical(row["rejected"]), row["goal"])),
            "task": row["task"],
            "action_id": row["action_id"],
            "feedback_id": row["feedback_id"],
        }
        for row in rows
    ]


_BUILDERS: dict[str, Callable[[Projections, _Renderer, bool], list[dict[str, Any]]]] = {
    "from_feedback": _from_feedback,
    "from_runs": _from_runs,
    "sdft": _sdft,
    "preference": _preference,
}


# ---------------------------------------------------------------- rendering


class _Renderer:
    """Prompts from the recorded streams, read once each and only below ``as_of``."""

    def __init__(
        self,
        store: Store,
        as_of: int,
        budget_tokens: int,
        count_tokens: Callable[[str], int],
        teacher_layout: TeacherLayout,
    ) -> None:
        self.store, self.as_of = store, as_of
        self.budget_tokens, self.count_tokens, self.teacher_layout = budget_tokens, count_tokens, teacher_layout
        self._events: dict[str, list[Event]] = {}

    def events(self, stream: str) -> list[Event]:
        if stream not in self._events:
            self._events[stream] = self.store.events(stream=stream, to_position=self.as_of)
        return self._events[stream]

    def page(self, stream: str, observation_id: str) -> Observation:
        page = next((e.data for e in self.events(stream) if e.event_id == observation_id), None)
        if page is None:
            raise TrajError(f"observation {observation_id} of {stream} is not in the log")
        return page

    def history(self, stream: str, step: int) -> list[HistoryEntry]:
        """The actions so far as the agent listed them before deciding ``step``.

        A demo lists its earlier actions (as the training feed does); a run lists every earlier
        step as the runtime did (:func:`traj.prompt.history_entry`).
        """
        events = self.events(stream)
        if stream.startswith("demo/"):
            return [
                HistoryEntry(_action_json(e.data.kind, e.data.target, e.data.value))
                for e in events
                if e.type == "action" and e.data.step < step
            ]
        return [history_entry(e.data) for e in events if e.type == "run.step" and e.data.step < step]

    def prompt(self, goal: str, page: Observation, history: list[HistoryEntry]) -> str:
        return build_prompt(goal, page, history, budget_tokens=self.budget_tokens, count_tokens=self.count_tokens).text


def _user(text: str) -> list[dict[str, str]]:
    """A prompt in TRL's conversational form: the one user turn the agent's chat template wraps."""
    return [{"role": "user", "content": text}]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _snapshot(page: Observation) -> dict[str, str]:
    elements = render_snapshot([e for e in page.elements if e.visible], max_chars=1 << 30)
    return {"url": page.url, "title": page.title, "elements": elements, "text": page.text}


def _action_json(kind: str, target: str | None, value: str | None) -> str:
    return taught_action(kind, target, value).to_json()


def _canonical(text: str) -> str:
    data = msgspec.json.decode(text)
    return _action_json(data["kind"], data.get("target"), data.get("value"))


# ---------------------------------------------------------------- schemas

_S = pa.string()
_STEP = pa.int64()  # a JSON reader infers int64: the same type in both formats
_TURNS = pa.list_(pa.struct([("role", _S), ("content", _S)]))
_PAGE = pa.struct([("url", _S), ("title", _S), ("elements", _S), ("text", _S)])
_DECISION = [
    ("step", _STEP),
    ("outcome", _S),
    ("raw_output", _S),
    ("action", _S),
    ("error", _S),
    ("label", _S),
    ("prompt", _TURNS),
    ("completion", _TURNS),
    ("action_id", _S),
]
_RUN = [
    ("stream", _S),
    ("run_id", _S),
    ("task", _S),
    ("goal", _S),
    ("success", pa.bool_()),
    ("reason", _S),
    ("answer", _S),
    ("run_label", _S),
]


def _schema(strategy: str, per_decision: bool) -> pa.Schema:
    """Fixed column types, so an empty or all-null column is written the same way every time."""
    if strategy == "from_feedback":
        return pa.schema(
            [
                ("stream", _S),
                ("step", _STEP),
                ("label", _S),
                ("origin", _S),
                ("input", pa.struct([("pageSnapshot", _PAGE), ("task", _S), ("history", pa.list_(_S))])),
                ("output", pa.struct([("action", _S), ("selectorOrRef", _S), ("value", _S)])),
                ("prompt", _TURNS),
                ("completion", _TURNS),
                ("task", _S),
                ("action_id", _S),
                ("feedback_id", _S),
            ]
        )
    if strategy == "from_runs":
        return pa.schema(_RUN + _DECISION if per_decision else [*_RUN, ("decisions", pa.list_(pa.struct(_DECISION)))])
    if strategy == "sdft":
        return pa.schema(
            [
                ("stream", _S),
                ("demo_id", _S),
                ("step", _STEP),
                ("prompt", _TURNS),
                ("completion", _TURNS),
                ("privileged_context", _S),
                ("teacher_prompt", _TURNS),
                ("context_source", _S),
                ("verified", pa.bool_()),
                ("task", _S),
                ("action_id", _S),
            ]
        )
    return pa.schema(
        [
            ("stream", _S),
            ("step", _STEP),
            ("prompt", _TURNS),
            ("chosen", _TURNS),
            ("rejected", _TURNS),
            ("task", _S),
            ("action_id", _S),
            ("feedback_id", _S),
        ]
    )
