"""Which steps of each demo the teacher sees explained: the KL sanity hook.

When SDFT's KL at step 0 is near zero, the teacher's context may simply hold nothing the
student lacks: steps never enriched, or whose enrichment failed. This tells, per demo and
per step, whether the teacher context carries an enrichment and, if not, why not, so the
trainer's diagnosis can name the demos to run ``traj enrich`` on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from traj.projections import Projections

if TYPE_CHECKING:
    from traj.eventlog import Store

__all__ = ["DemoCoverage", "StepCoverage", "enrichment_coverage"]


@dataclass(frozen=True)
class StepCoverage:
    """One demonstrated step: enriched in the teacher's context, or the raw action and why."""

    action_id: str
    step: int
    enriched: bool
    model: str | None
    """The model whose enrichment the teacher sees."""
    failure: str | None
    """Without an enrichment: the latest ``enrichment.failed`` reason, ``None`` if never tried."""


@dataclass(frozen=True)
class DemoCoverage:
    """How much of one demo's teacher context is enriched."""

    demo_id: str
    steps: list[StepCoverage]

    @property
    def share(self) -> float:
        """Enriched steps over all steps (1.0 for a demo without steps: nothing is missing)."""
        return sum(s.enriched for s in self.steps) / len(self.steps) if self.steps else 1.0

    @property
    def complete(self) -> bool:
        return all(s.enriched for s in self.steps)

    def describe(self) -> str:
        """One line: ``3/10 steps enriched; raw action for 7 (timeout: 5, never enriched: 2)``."""
        enriched = sum(s.enriched for s in self.steps)
        line = f"{enriched}/{len(self.steps)} steps enriched"
        raw: dict[str, int] = {}
        for step in self.steps:
            if not step.enriched:
                cause = step.failure or "never enriched"
                raw[cause] = raw.get(cause, 0) + 1
        if raw:
            causes = ", ".join(f"{cause}: {count}" for cause, count in sorted(raw.items()))
            line += f"; raw action for {len(self.steps) - enriched} ({causes})"
        return line


def enrichment_coverage(store: Store, demo_ids: Iterable[str] | None = None) -> dict[str, DemoCoverage]:
    """Per demo (all demos, or ``demo_ids``), whether each step's teacher context is enriched."""
    wanted = None if demo_ids is None else list(demo_ids)
    with Projections(store) as projections:
        rows = projections.query(
            """
            WITH failures AS (
                SELECT action_id, failure_reason FROM enrichment_attempts WHERE NOT valid
                QUALIFY row_number() OVER (PARTITION BY action_id ORDER BY position DESC) = 1)
            SELECT x.demo_id, x.action_id, x.step, x.context_source = 'enrichment' AS enriched,
                   x.enrichment_model, f.failure_reason
            FROM sdft_examples x LEFT JOIN failures f ON f.action_id = x.action_id
            WHERE $all OR x.demo_id IN (SELECT unnest($ids))
            ORDER BY x.position
            """,
            {"all": wanted is None, "ids": wanted or [""]},
        ).to_pylist()
    coverage: dict[str, DemoCoverage] = {d: DemoCoverage(d, []) for d in wanted or []}
    for row in rows:
        demo = coverage.setdefault(row["demo_id"], DemoCoverage(row["demo_id"], []))
        failure = None if row["enriched"] else row["failure_reason"]
        demo.steps.append(
            StepCoverage(row["action_id"], row["step"], row["enriched"], row["enrichment_model"], failure)
        )
    return coverage
