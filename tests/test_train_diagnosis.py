"""SDFT's gate in ``traj train``'s diagnosis: teacher and student accuracy on other instances' states."""

from __future__ import annotations

import contextlib
import json

from typer.testing import CliRunner

from traj.cli import app
from traj.demo import record_demonstration
from traj.policy import Completion, TransformersPolicy
from traj.projections import load_demo
from traj.prompt import ParseError, action_response_format, parse_action
from traj.train import SdftConfig, TrainingExample, probe_examples, train, training_examples


def _accuracy(policy: TransformersPolicy, probes: list[TrainingExample], *, teacher: bool, room: int) -> float:
    """Greedy, constrained next-action exact match through the agent's own backend (not the trainer)."""
    hits = 0
    for probe in probes:
        query = probe.teacher_query if teacher else probe.query
        completion = Completion(
            ({"role": "user", "content": query},),
            max_new_tokens=room,
            response_format=action_response_format(json.loads(probe.schema)),
        )
        with contextlib.suppress(ParseError):
            hits += parse_action(policy.complete(completion).text).action.to_json() == probe.target
    return hits / len(probes)


def test_the_diagnosis_measures_teacher_and_student_on_another_instances_states(store, home, sites_server, tiny_model):
    shown = record_demonstration(store, sites_server.url, "expense", 0)
    other = record_demonstration(store, sites_server.url, "expense", 1)
    examples = training_examples(store, demo_ids=[shown], verified_only=False, model=tiny_model)
    assert {e.demo_id for e in examples} == {shown}

    probes = probe_examples(store, examples, model_dir=tiny_model)
    assert {p.demo_id for p in probes} == {other} and len(probes) == len(load_demo(store, other).steps) + 1, (
        "each step of the other instance, and its FINISH"
    )
    other_goal = load_demo(store, other).started.goal
    assert other_goal != load_demo(store, shown).started.goal
    assert all(f"Demonstration of: {other_goal}" in p.teacher_query for p in probes), (
        "the trained demonstration as SDFT's teacher reads it on that instance: its goal and values"
    )

    config = SdftConfig(rank=4, lora_alpha=8, max_steps=1, batch_size=2, checkpoint_every=0)
    result = train(store, examples, model_dir=tiny_model, config=config, task="expense")
    diagnosis = result.diagnosis
    assert diagnosis is not None
    assert (diagnosis.accuracy_on, diagnosis.accuracy_steps) == ("other_instances", len(probes))
    # at step 0 student and teacher are the base model: the same numbers through the agent's backend
    policy = TransformersPolicy(tiny_model)
    room = config.max_new_tokens
    assert diagnosis.teacher_accuracy == _accuracy(policy, probes, teacher=True, room=room)
    assert diagnosis.student_accuracy == _accuracy(policy, probes, teacher=False, room=room)
    recorded = [e.data for e in store.events(stream=f"train/{result.job_id}") if e.type == "train.diagnosis"]
    assert [(d.accuracy_on, d.accuracy_steps, d.teacher_accuracy) for d in recorded] == [
        ("other_instances", len(probes), diagnosis.teacher_accuracy)
    ]


def test_traj_train_says_where_the_accuracies_were_measured(store, home, sites_server, tiny_model):
    shown = record_demonstration(store, sites_server.url, "price", 0)
    record_demonstration(store, sites_server.url, "price", 1)
    store.close()  # the command opens the store itself
    args = ["train", "--demo", shown, "--unverified", "--steps", "1", "--batch-size", "2", "--rank", "4"]
    args += ["--checkpoint-every", "0", "--home", str(home)]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "of other instances' states (SDFT's gate)" in out.output
