"""SDFT's gate, measured: other instances' decisions with one demonstration as the teacher's context."""

from __future__ import annotations

import pytest

from traj.datasets import sdft_items, transfer_items
from traj.demo import record_demonstration
from traj.errors import TrainingError
from traj.projections import load_demo


def test_the_teacher_sees_the_given_demonstration_on_the_other_instances_states(store, sites_server) -> None:
    shown = record_demonstration(store, sites_server.url, "expense", 0)
    probe = record_demonstration(store, sites_server.url, "expense", 1)
    shown_goal, probe_goal = load_demo(store, shown).started.goal, load_demo(store, probe).started.goal
    assert shown_goal != probe_goal

    items = list(transfer_items(store, teacher_demo_id=shown, demo_ids=[probe]))
    own = list(sdft_items(store, verified_only=False, demo_ids={probe}))
    probe_demo = load_demo(store, probe)
    assert [i.target for i in items] == [i.target for i in own] and len(items) == len(probe_demo.steps) + 1
    finish = '{"kind":"FINISH","target":null,"value":null}'
    assert (items[-1].target, items[-1].action_id) == (finish, probe_demo.finished_id), (
        "the report is sent where the recording stopped: the last decision is to stop"
    )
    assert f"Step {len(probe_demo.steps) + 1}: {finish}" in items[0].teacher_query
    assert [i.query for i in items] == [i.query for i in own], "the student's prompts are the probe's own"
    for item in items:
        assert item.demo_id == probe
        assert f"Demonstration of: {shown_goal}" in item.teacher_query
        assert f"Demonstration of: {probe_goal}" not in item.teacher_query


def test_an_unknown_teacher_demonstration_is_refused(store, sites_server) -> None:
    probe = record_demonstration(store, sites_server.url, "price", 1)
    with pytest.raises(TrainingError, match="no demonstrated steps in demo nope"):
        list(transfer_items(store, teacher_demo_id="nope", demo_ids=[probe]))
