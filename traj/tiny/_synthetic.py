"""Synthetic browser decisions to pretrain the tiny model on, in the agent's exact prompt format.

A *family* is one made-up site built like a bundled one: a form (expense report, ticket,
booking), a calendar week with a new-event dialog, a shop search, an inbox, a list of flights.
Its layout and its *conventions* come from the family's seed: the order the fields are filled
in, whether a field is clicked before typing, which of two look-alike buttons submits, whether
Enter submits, which menu link leads to the form, whether results are sorted first. An
*episode* fills the family with values (one per seed, like a bundled site's ``?seed=``): the
goal sentence that states them, the page before each action (typed values show in the
fields, a dialog appears, a confirmation follows) and the demonstrated actions, ending with
``FINISH`` (with the answer when the goal asks a question).

A :class:`Decision` is (goal, page at step i, the first i actions) -> action i, rendered with
:func:`traj.prompt.build_prompt` exactly as the agent prompts. The conventions are what a goal
alone does not tell; a demonstration does. So some decisions carry one, rendered with
:func:`traj.prompt.render_demonstration` as the SDFT teacher sees it: of the very episode (what
the teacher is given for the demo's own states) or of the same family with other values. The
model learns to find where the actions so far leave off in the demonstration and continue it,
with the values of its own goal, and to ground the elements a goal names (a message, a
flight, a time slot) on the page rather than copy them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from traj.prompt import HistoryEntry, build_prompt, refer_values, render_demonstration
from traj.tiny._builder import Builder, Episode, SyntheticPage
from traj.tiny._calendar import build_calendar
from traj.tiny._flights import build_flights
from traj.tiny._form import build_form
from traj.tiny._inbox import build_inbox
from traj.tiny._lookup import build_choice, build_directory, build_fields
from traj.tiny._search import build_search

__all__ = [
    "GENERATOR_VERSION",
    "SITE_KINDS",
    "SKILL_KINDS",
    "TEMPLATES",
    "Decision",
    "Episode",
    "Kinds",
    "SyntheticPage",
    "decision_prompt",
    "decisions",
    "episode",
]

GENERATOR_VERSION = 7
"""Bumped whenever the samples change: the tiny model's cache key includes it."""

TEMPLATES = ("form", "calendar", "search", "inbox", "flights")
_TEMPLATE_WEIGHTS = (0.5, 0.14, 0.12, 0.12, 0.12)
SKILL_TEMPLATES = ("fields", "choice", "directory")
_LONG_SHARE = 0.08
"""Families with long pages (big menus, week grids, long lists): prompts near the agent's budget."""
_BARE_SHARE = 0.3
"""Families with bare pages (no menu, no page text): short prompts, where the decision stands out."""
_NOTES_SHARE = 0.15
"""Demonstrations shown with enrichment notes under each action, as the SDFT feed renders them."""
_BUDGET_TOKENS = 1536
"""The agent's prompt budget, counted at 2.5 characters a token: a little under what the tiny tokenizer gives."""

DemoMode = Literal["none", "own", "other"]


@dataclass(frozen=True)
class Decision:
    """One sample: the agent's prompt at a step and the demonstrated action as JSON."""

    prompt: str
    target: str
    goal: str
    template: str
    family: int
    step: int
    demo: DemoMode
    """``none``: no demonstration; ``own``: this episode's; ``other``: the same family with other values."""


@dataclass(frozen=True)
class Kinds:
    """The kinds of made-up site a family is drawn from (its seed picks one by ``weights``)."""

    templates: tuple[str, ...]
    weights: tuple[float, ...]
    lookup_share: float = 0.0
    """Decisions drawn from an episode's lookup steps (a value or element the goal names: a
    TYPE, a SELECT, the first step) rather than any step: the skill, not the save-and-finish."""


SITE_KINDS = Kinds(TEMPLATES, _TEMPLATE_WEIGHTS)
"""Sites built like the bundled ones: the first pretraining stage."""
SKILL_KINDS = Kinds(SKILL_TEMPLATES, (0.6, 0.15, 0.25), lookup_share=0.7)
"""Sites where every decision looks a value up in the goal (:mod:`traj.tiny._lookup`): the continuation."""


def decisions(
    seed: int,
    count: int,
    *,
    families: range,
    demo: DemoMode | None = None,
    demo_share: float = 0.6,
    own_share: float = 0.4,
    kinds: Kinds = SITE_KINDS,
) -> Iterator[Decision]:
    """``count`` decisions on episodes of ``families`` (training and evaluation use disjoint ranges).

    With ``demo=None``, ``demo_share`` of them carry a demonstration, ``own_share`` of those of
    the episode itself. A fixed ``demo`` gives the same episodes and steps for every mode, so
    accuracies with and without a demonstration compare the same decisions.
    """
    rng = random.Random(f"decisions-{seed}")
    made = 0
    while made < count:
        family_id = rng.choice(families)
        own, other = rng.randrange(1 << 30), rng.randrange(1 << 30)
        shown, from_own, with_notes = rng.random(), rng.random(), rng.random()
        current = episode(family_id, own, kinds)
        step = rng.randrange(len(current.actions))
        if kinds.lookup_share and rng.random() < kinds.lookup_share:
            step = rng.choice([i for i, a in enumerate(current.actions) if i == 0 or a.kind in ("TYPE", "SELECT")])
        mode: DemoMode = demo or ("none" if shown >= demo_share else "own" if from_own < own_share else "other")
        demonstration = None
        if mode != "none":
            shown_episode = current if mode == "own" else episode(family_id, other, kinds)
            notes = shown_episode.notes if with_notes < _NOTES_SHARE else ()
            demonstration = render_demonstration(
                shown_episode.goal, [action.to_json() for action in shown_episode.actions], notes
            )
        target = current.actions[step]
        prompt = decision_prompt(current, step, demonstration)
        if target.target is not None and f"[{target.target}]" not in prompt:
            continue  # the budget cut the target off the page: no right answer to teach
        made += 1
        yield Decision(
            prompt, refer_values(target.to_json(), current.goal), current.goal, current.template, family_id, step, mode
        )


def decision_prompt(current: Episode, step: int, demonstration: str | None = None) -> str:
    """The agent's prompt at ``step`` of ``current`` (the actions before it as the history), with
    ``demonstration`` where given, within the agent's budget as the tiny tokenizer counts it."""
    return build_prompt(
        current.goal,
        current.pages[step],
        [HistoryEntry(action.to_json()) for action in current.actions[:step]],
        demonstration=demonstration,
        budget_tokens=_BUDGET_TOKENS,
        count_tokens=_count_tokens,
    ).text


def episode(family_id: int, instance: int, kinds: Kinds = SITE_KINDS) -> Episode:
    """Episode ``instance`` of family ``family_id``: the same pair always gives the same episode."""
    structure = random.Random(f"family-{family_id}")
    template = structure.choices(kinds.templates, kinds.weights)[0]
    size = structure.random()
    long, bare = size < _LONG_SHARE, size > 1 - _BARE_SHARE
    values = random.Random(f"episode-{family_id}-{instance}")
    builder = Builder(family_id, template, structure, values, long, bare)
    _BUILDERS[template](builder)
    return builder.episode()


def _count_tokens(text: str) -> int:
    return (2 * len(text) + 4) // 5


_BUILDERS: dict[str, Callable[[Builder], None]] = {
    # one module per family of made-up sites, each building its episodes with the shared Builder
    "form": build_form,
    "calendar": build_calendar,
    "search": build_search,
    "inbox": build_inbox,
    "flights": build_flights,
    "fields": build_fields,
    "choice": build_choice,
    "directory": build_directory,
}
