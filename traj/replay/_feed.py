"""The SDFT training feed: one item per demonstrated decision, from events and projections only.

An item is what the student sees (the goal, the page as observed, the actions so far), what
only the teacher sees (the whole demonstration, each step explained by its enrichment when
one exists, the raw action JSON otherwise) and the target action. The items are the rows of
the ``sdft_examples`` projection, with the prompt and context rendered in full; by default
only steps that the demo's latest replay ran (ok or healed) are fed, so a demo that no longer
replays does not teach.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from traj.browser import render_snapshot
from traj.projections import Projections
from traj.replay._demo import Demo, load_demo

if TYPE_CHECKING:
    from traj.eventlog import Action, Store

__all__ = ["SdftItem", "action_json", "sdft_items"]


@dataclass(frozen=True)
class SdftItem:
    """One training query for self-distillation."""

    demo_id: str
    step: int
    action_id: str
    query: str
    """The student's prompt: goal, URL, interactive elements, page text, actions so far."""
    context: str
    """The teacher's privileged context: the whole demonstration, enriched where possible."""
    target: str
    """The demonstrated action as JSON."""
    context_source: str
    """``enrichment`` when this step's own enrichment is in the context, else ``raw_action``."""
    verified: bool
    """The demo's latest replay ran this step (ok or healed)."""


def action_json(action: Action) -> str:
    """The action as the policy emits it: kind, target element id, value."""
    return msgspec.json.encode({"kind": action.kind, "target": action.target, "value": action.value}).decode()


def sdft_items(store: Store, *, verified_only: bool = True, max_page_chars: int = 4000) -> Iterator[SdftItem]:
    """Yield the SDFT items of every demonstration in ``store``, in log order."""
    with Projections(store) as projections:
        rows = projections.query("SELECT demo_id, step, action_id FROM sdft_examples ORDER BY position").to_pylist()
        enrichments = {
            r["action_id"]: r
            for r in projections.query(
                "SELECT action_id, explanation, element_rationale, expected_outcome FROM enrichments "
                "QUALIFY row_number() OVER (PARTITION BY action_id ORDER BY position DESC) = 1"
            ).to_pylist()
        }
        replayed = {
            r["action_id"]: r["status"]
            for r in projections.query(
                "SELECT action_id, status FROM replay_steps "
                "QUALIFY row_number() OVER (PARTITION BY action_id ORDER BY position DESC) = 1"
            ).to_pylist()
        }
    demos: dict[str, Demo] = {}
    for row in rows:
        verified = replayed.get(row["action_id"]) in ("ok", "healed")
        if verified_only and not verified:
            continue
        demo = demos.get(row["demo_id"]) or demos.setdefault(row["demo_id"], load_demo(store, row["demo_id"]))
        index = next(i for i, s in enumerate(demo.steps) if s.action_id == row["action_id"])
        yield SdftItem(
            demo_id=demo.demo_id,
            step=demo.steps[index].action.step,
            action_id=row["action_id"],
            query=_query(demo, index, max_page_chars),
            context=_context(demo, enrichments),
            target=action_json(demo.steps[index].action),
            context_source="enrichment" if row["action_id"] in enrichments else "raw_action",
            verified=verified,
        )


def _query(demo: Demo, index: int, max_page_chars: int) -> str:
    step = demo.steps[index]
    page = step.observation
    history = "\n".join(f"{i}. {action_json(s.action)}" for i, s in enumerate(demo.steps[:index])) or "(none)"
    return (
        f"Goal: {demo.started.goal}\nURL: {page.url}\n"
        f"Elements:\n{render_snapshot(page.elements)}\n"
        f"Page text:\n{page.text[:max_page_chars]}\n"
        f"Actions so far:\n{history}"
    )


def _context(demo: Demo, enrichments: dict[str, dict[str, Any]]) -> str:
    lines = [f"A demonstration of: {demo.started.goal}"]
    for i, step in enumerate(demo.steps):
        lines.append(f"{i}. {action_json(step.action)}")
        enrichment = enrichments.get(step.action_id)
        if enrichment is not None:
            lines += [
                f"   Why: {enrichment['explanation']}",
                f"   Element: {enrichment['element_rationale']}",
                f"   Expected outcome: {enrichment['expected_outcome']}",
            ]
    return "\n".join(lines)
