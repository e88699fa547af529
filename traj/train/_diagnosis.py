"""Step 0 of an SDFT job, diagnosed: the KL before any update and the numbers behind its causes.

SDFT's gate is the teacher: it can only teach what the demonstration-conditioned model gets
right on the states the student will meet, and those are other instances' states (the agent
is run on new seeds, not on the demonstrated one). So the teacher's and the student's
next-action accuracy are measured on the states of the other demonstrations of the task in the
store (:func:`traj.datasets.transfer_items`: their decisions, the trained demonstration in the
teacher's context) when there are any; only without one are they measured on the trained
demonstrations' own first batch, which flatters the teacher (it reads the answer in its
context). The diagnosis says which.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from traj.eventlog import Store, TrainDiagnosis
from traj.train._config import TrainingExample

if TYPE_CHECKING:
    from traj.train._sdft_mlx import MlxSdftTrainer
    from traj.train.sdft import SdftTrainer

__all__ = ["MAX_PROBE_STEPS", "NEAR_ZERO_KL", "AccuracyOn", "KlDiagnosis", "diagnose", "probe_examples"]

NEAR_ZERO_KL = 1e-3
MAX_PROBE_STEPS = 24
"""Other instances' steps the accuracies are measured on at most (greedy answers cost time)."""
AccuracyOn = Literal["other_instances", "own_states"]


@dataclass(frozen=True)
class KlDiagnosis:
    """Why the step-0 KL is what it is: the numbers behind the usual causes."""

    kl: float
    enriched_share: float
    """Share of the examples whose teacher context carries an enrichment."""
    teacher_accuracy: float
    """Next-action exact match of the demonstration-conditioned teacher (see ``accuracy_on``)."""
    student_accuracy: float
    """The same for the bare student."""
    ema_alpha: float
    unenriched: list[str] = field(default_factory=list)
    """Per demo, which steps' teacher context lacks an enrichment and why (``enrichment_coverage``)."""
    accuracy_on: AccuracyOn = "own_states"
    """``other_instances``: the states of other demonstrations of the task (SDFT's gate);
    ``own_states``: the trained demonstrations' first batch (the store has no other instance)."""
    accuracy_steps: int = 0
    """How many states the accuracies were measured on."""

    @property
    def near_zero(self) -> bool:
        return self.kl < NEAR_ZERO_KL

    def accuracy_text(self) -> str:
        """The two accuracies and what they were measured on, in one phrase."""
        where = (
            "other instances' states (SDFT's gate)"
            if self.accuracy_on == "other_instances"
            else "the demonstration's own states (no other instance of the task in the store)"
        )
        return (
            f"teacher right {self.teacher_accuracy:.0%} vs student {self.student_accuracy:.0%} "
            f"on {self.accuracy_steps} of {where}"
        )

    def warning(self) -> str | None:
        """The warning to print when the teacher has nothing to teach, naming the likely causes."""
        if not self.near_zero:
            return None
        enrichment = f"weak or missing enrichment: {self.enriched_share:.0%} of the steps are enriched"
        if self.unenriched:
            enrichment += " (run 'traj enrich' on them):" + "".join(f"\n      {line}" for line in self.unenriched)
        causes = [
            enrichment,
            f"in-context learning too weak for this model: {self.accuracy_text()}",
            f"EMA alpha {self.ema_alpha} too low for the teacher to follow (0.1-0.3 for 5-10 demonstrations)",
        ]
        return (
            f"KL at step 0 is {self.kl:.2e}, near zero: the teacher barely differs from the student. Likely causes:\n"
            + "\n".join(f"  - {cause}" for cause in causes)
        )

    def event(self, job_id: str) -> TrainDiagnosis:
        """The ``train.diagnosis`` event that keeps these numbers for ``traj view``."""
        return TrainDiagnosis(
            job_id=job_id,
            kl=self.kl,
            enriched_share=self.enriched_share,
            teacher_accuracy=self.teacher_accuracy,
            student_accuracy=self.student_accuracy,
            ema_alpha=self.ema_alpha,
            unenriched=self.unenriched,
            accuracy_on=self.accuracy_on,
            accuracy_steps=self.accuracy_steps,
        )


def probe_examples(
    store: Store, examples: list[TrainingExample], *, model_dir: str | Path | None = None, limit: int = MAX_PROBE_STEPS
) -> list[TrainingExample]:
    """Up to ``limit`` decisions of other instances of the examples' tasks: the demonstrations of
    those tasks that the examples do not come from, in log order, each with the first trained
    demonstration in the teacher's context as SDFT's teacher reads it on that instance (its goal
    and values: :func:`traj.replay.instance_demonstration`; as recorded where the goal does not
    bind), prompts budgeted for ``model_dir`` as the training feed's are. Empty when the store
    holds no other instance."""
    from traj.datasets import transfer_items
    from traj.projections import Projections, load_demo
    from traj.replay import instance_demonstrations
    from traj.train._data import example_of, prompt_budget_of

    trained = list(dict.fromkeys(e.demo_id for e in examples if e.demo_id))
    if not trained:
        return []
    with Projections(store) as projections:
        rows = projections.query("SELECT demo_id, task FROM demos ORDER BY demo_id").to_pylist()
    tasks = {row["task"] for row in rows if row["demo_id"] in trained and row["task"] is not None}
    others = [row["demo_id"] for row in rows if row["task"] in tasks and row["demo_id"] not in trained]
    if not others:
        return []
    budget = {} if model_dir is None else prompt_budget_of(Path(model_dir))
    contexts = instance_demonstrations(store, load_demo(store, trained[0]), others)
    items = transfer_items(store, teacher_demo_id=trained[0], demo_ids=others, contexts=contexts, **budget)
    return [example_of(item) for item, _ in zip(items, range(limit), strict=False)]


def diagnose(
    store: Store,
    trainer: SdftTrainer | MlxSdftTrainer,
    batch: list[TrainingExample],
    examples: list[TrainingExample],
    kl: float,
    *,
    model_dir: str | Path | None = None,
) -> KlDiagnosis:
    """Step-0 numbers: the KL before any update, who gets the next action right (on other
    instances' states when the store has them, see :func:`probe_examples`), and which
    demonstrated steps the teacher sees without an enrichment, and why."""
    from traj.enrich import enrichment_coverage
    from traj.prompt import ParseError, parse_action

    probes = probe_examples(store, examples, model_dir=model_dir)
    measured = probes or batch

    def accuracy(teacher: bool) -> float:
        size = trainer.config.batch_size
        answers = []
        for start in range(0, len(measured), size):  # in the job's batches: a probe set fits where a batch does
            part = measured[start : start + size]
            queries = [e.teacher_query if teacher else e.query for e in part]
            answers += trainer.greedy_answers(queries, teacher=teacher, schemas=[e.schema for e in part])
        hits = 0
        for text, example in zip(answers, measured, strict=True):
            with contextlib.suppress(ParseError):
                hits += parse_action(text).action.to_json() == example.target
        return hits / len(measured)

    enriched = sum(e.enriched for e in examples) / len(examples)
    used = {e.action_id for e in examples}
    unenriched = []
    demo_ids = sorted({e.demo_id for e in examples if e.demo_id})
    for demo_id, coverage in enrichment_coverage(store, demo_ids).items() if demo_ids else ():
        raw = [s for s in coverage.steps if s.action_id in used and not s.enriched]
        if raw:
            steps = ", ".join(f"{s.step} ({s.failure or 'never enriched'})" for s in raw)
            unenriched.append(f"demo {demo_id}: steps {steps}")
    return KlDiagnosis(
        kl,
        enriched,
        accuracy(teacher=True),
        accuracy(teacher=False),
        trainer.config.ema_alpha,
        unenriched,
        accuracy_on="other_instances" if probes else "own_states",
        accuracy_steps=len(measured),
    )
