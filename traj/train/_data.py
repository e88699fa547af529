"""The examples a job trains on, read from the log: the SDFT feed's items and the preference pairs.

Each prompt is budgeted for the base model that will train on it (its context window and
tokenizer), exactly as the agent budgets the prompt when it runs that model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from traj.errors import TrainingError, one_line
from traj.train._config import TrainingExample

if TYPE_CHECKING:
    from traj.datasets import SdftItem, TeacherLayout
    from traj.eventlog import Store

__all__ = ["example_of", "feed_examples", "preference_examples", "prompt_budget_of", "training_examples"]


def training_examples(
    store: Store,
    *,
    task: str | None = None,
    demo_ids: list[str] | None = None,
    verified_only: bool = True,
    model: str | Path | None = None,
    teacher_layout: TeacherLayout = "rules",
) -> list[TrainingExample]:
    """The decisions of the chosen demos (all demos when neither ``task`` nor ``demo_ids``), and
    those of their successful observed replays on other instances (:func:`traj.datasets.instance_items`).

    ``model`` is the base model directory the examples will train: each prompt is then cut to
    its context window with its tokenizer, exactly as the agent cuts the prompt when it runs
    that model, and the teacher's prompt (with the demonstration) fits the window too. Without
    it, prompts are budgeted by an estimate that suits no model in particular.
    """
    from traj.datasets import sdft_action_ids
    from traj.projections import Projections

    wanted = set(demo_ids or [])
    with Projections(store) as projections:
        recorded = {r["demo_id"] for r in projections.query("SELECT demo_id FROM demos").to_pylist()}
        if unknown := sorted(wanted - recorded):
            raise TrainingError(f"no such demo: {', '.join(unknown)} in {store.home} (see 'traj demos')")
        if task is not None:
            rows = projections.query("SELECT demo_id FROM demos WHERE task = $task", {"task": task}).to_pylist()
            wanted |= {r["demo_id"] for r in rows}
            if not wanted:
                raise TrainingError(f"no demonstrations of task {task!r} in {store.home} (see 'traj demos')")
    if not sdft_action_ids(store, verified_only=verified_only, demo_ids=wanted or None):
        hint = (
            " (no replay verified their steps: run 'traj replay DEMO' first, or train unverified)"
            if verified_only
            else ""
        )
        raise TrainingError(f"no training examples in the chosen demonstrations{hint}")
    return feed_examples(
        store, verified_only=verified_only, demo_ids=wanted or None, model=model, teacher_layout=teacher_layout
    )


def feed_examples(
    store: Store,
    *,
    verified_only: bool,
    demo_ids: set[str] | None = None,
    model: str | Path | None = None,
    teacher_layout: TeacherLayout = "rules",
) -> list[TrainingExample]:
    """The SDFT feed's items as training examples, their prompts budgeted for ``model`` (see
    :func:`training_examples`), the teacher's in ``teacher_layout``: the demos' own steps, then
    the states of their observed replays on other instances (``traj eval --observe``), which
    are verified by their success."""
    from traj.datasets import instance_items, sdft_items

    budget = {} if model is None else prompt_budget_of(Path(model)) | {"fit_teacher": True}
    items = [
        *sdft_items(store, verified_only=verified_only, demo_ids=demo_ids, teacher_layout=teacher_layout, **budget),
        *instance_items(store, demo_ids=demo_ids, teacher_layout=teacher_layout, **budget),
    ]
    return [example_of(item) for item in items]


def prompt_budget_of(model_dir: Path) -> dict[str, Any]:
    """The agent's prompt budget for ``model_dir`` (see :func:`traj.prompt.prompt_budget`),
    counted with its tokenizer, as :class:`traj.policy.TransformersPolicy` counts."""
    from transformers import AutoConfig, AutoTokenizer

    from traj.prompt import context_window_of, prompt_budget

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        window = context_window_of(AutoConfig.from_pretrained(model_dir), tokenizer)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot read the tokenizer and config of {model_dir}: {one_line(exc)}") from None
    tokenizer.model_max_length = 1 << 30  # counting only: no warning for long pages

    def count_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return {"budget_tokens": prompt_budget(window), "count_tokens": count_tokens}


def example_of(item: SdftItem) -> TrainingExample:
    """The training example of one item of the SDFT feed."""
    return TrainingExample(
        query=item.query,
        teacher_query=item.teacher_query,
        target=item.target,
        action_id=item.action_id,
        demo_id=item.demo_id,
        enriched=item.context_source == "enrichment",
        schema=item.schema,
    )


def preference_examples(store: Store, *, task: str | None = None, as_of: int | None = None) -> list[TrainingExample]:
    """The ``preference`` export's pairs (of ``task``, when given) as training examples.

    ``target`` is the chosen action, ``rejected`` the judged one; ``action_id`` is the judged
    action's event, so the adapter's lineage leads to the run it learned from.
    """
    from traj.datasets import export_dataset

    rows = export_dataset(store, "preference", as_of=as_of).table.to_pylist()
    examples = [
        TrainingExample(
            query=row["prompt"][-1]["content"],
            teacher_query=row["prompt"][-1]["content"],
            target=row["chosen"][-1]["content"],
            rejected=row["rejected"][-1]["content"],
            action_id=row["action_id"] or "",
        )
        for row in rows
        if task is None or row["task"] == task
    ]
    if not examples:
        scope = f" of task {task!r}" if task else ""
        raise TrainingError(
            f"no preference pairs{scope} in {store.home}: correct a bad step first "
            "(traj feedback RUN bad --step N --correct '{\"kind\": ...}')"
        )
    return examples
