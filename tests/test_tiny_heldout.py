"""The held-out synthetic families: kinds of site pretraining never draws, with answerable steps."""

from __future__ import annotations

import json

import pytest

from traj.prompt import goal_values, parse_action, resolve_values
from traj.tiny import HELDOUT_KINDS, SHIPPED, heldout_episode, recipe_key, skill_probes
from traj.tiny._synthetic import TEMPLATES, decisions


def test_the_held_out_kinds_are_none_of_the_pretraining_families():
    assert set(HELDOUT_KINDS).isdisjoint(TEMPLATES)
    seen = {d.template for d in decisions(0, 300, families=range(0, 1_000_000))}
    assert seen <= set(TEMPLATES) and seen.isdisjoint(HELDOUT_KINDS)
    assert recipe_key() == json.loads((SHIPPED / "traj-tiny.json").read_text())["key"]  # the shipped model's recipe


@pytest.mark.parametrize("kind", HELDOUT_KINDS)
def test_every_probe_is_answerable_from_its_goal_and_page(kind):
    probes = skill_probes(kind, range(30))
    assert probes and {p.kind for p in probes} == {kind}
    for probe in probes:
        right = json.loads(probe.target)
        ids = {element.agent_id for element in probe.page.elements}
        if right["target"] is not None:
            assert right["target"] in ids and f"[{right['target']}]" in probe.prompt
        if right["kind"] == "TYPE":
            typed = resolve_values(parse_action(probe.target).action, probe.goal).value
            assert typed in probe.goal  # looked up in the goal
            assert (right["value"] != typed) == (typed in goal_values(probe.goal))  # as its $N where it is one
        if right["kind"] == "FINISH" and right["value"]:
            assert right["value"] in probe.page.text  # read from the page
        assert probe.prompt.endswith(f"Step {probe.step + 1}:")


@pytest.mark.parametrize("kind", HELDOUT_KINDS)
def test_a_variant_is_the_same_site_with_other_values(kind):
    first, other = heldout_episode(kind, 3), heldout_episode(kind, 3, variant=1)
    assert [e.name for e in first.pages[0].elements] != [] and first.goal != other.goal

    def layout(page):  # the site's own elements (fields, buttons, menu), not its content (the orders listed)
        return [(e.tag, e.role, e.name) for e in page.elements if not e.name.startswith("Order ")]

    assert layout(first.pages[0]) == layout(other.pages[0])
    assert heldout_episode(kind, 3) == first  # deterministic
    with_demo = skill_probes(kind, range(3, 4), with_demo=True)
    assert all(f"Demonstration of: {other.goal}" in p.prompt for p in with_demo)


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown held-out kind 'forum'"):
        heldout_episode("forum", 0)
