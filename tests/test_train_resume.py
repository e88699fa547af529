"""Checkpoints and ``traj train --resume``: a stopped job continues to the adapter an uninterrupted one makes."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

from traj.cli import app
from traj.errors import TrainingError
from traj.eventlog import Store
from traj.projections import Projections
from traj.train import SdftConfig, resume, train, training_examples

# sampling on (temperature 1): the resumed run must also restore the RNG to draw the same rollouts
CONFIG = SdftConfig(
    rank=4, lora_alpha=8, learning_rate=5e-3, max_new_tokens=8, batch_size=2, max_steps=5, ema_alpha=0.1
)


@pytest.fixture
def examples(store, events):
    store.append("demo/d1", events.demo("d1", steps=4, words=12), expected_seq=0)
    return training_examples(store, verified_only=False)


def _stop_after(step: int):
    def on_step(metrics) -> None:
        if metrics.step == step:
            raise KeyboardInterrupt  # what Ctrl-C (or a killed worker, minus the event) leaves behind

    return on_step


def _weights(path: Path, name: str) -> dict:
    return load_file(str(path / name))


@pytest.mark.parametrize(
    ("backend", "weights"), [("torch", "adapter_model.safetensors"), ("mlx", "adapters.safetensors")]
)
def test_a_stopped_job_resumes_from_its_checkpoint_to_the_uninterrupted_adapter(
    store, examples, model_dir, backend, weights
):
    config = SdftConfig(**{**CONFIG.__dict__, "checkpoint_every": 2})
    whole = train(store, examples, model_dir=model_dir, config=config, name="whole", backend=backend)

    with pytest.raises(KeyboardInterrupt):
        train(
            store, examples, model_dir=model_dir, config=config, name="again", backend=backend, on_step=_stop_after(2)
        )
    resumed = resume(store, task=None)

    assert resumed.adapter == "again" and [m.step for m in resumed.steps] == [2, 3, 4]  # from the step-2 checkpoint
    folder = "peft" if backend == "torch" else "mlx"
    expected, got = (
        _weights(whole.peft_path.parent / folder, weights),
        _weights(resumed.peft_path.parent / folder, weights),
    )
    assert expected.keys() == got.keys()
    for key in expected:  # exactly, on CPU: same adapters, optimizer, schedule and sampled rollouts
        assert (expected[key] == got[key]).all(), key

    stream = store.events(stream=f"train/{resumed.job_id}")
    types = [e.type for e in stream]
    assert types.count("train.started") == 1 and types.count("train.diagnosis") == 1
    assert [e.data.step for e in stream if e.type == "train.step"] == [0, 1, 2, 3, 4]  # no step recorded twice
    assert [e.data.step for e in stream if e.type == "train.checkpoint"] == [2, 4]
    assert types.index("train.finished") < types.index("train.resumed")  # cancelled, then resumed
    assert stream[-1].data.status == "completed"
    with Projections(store) as projections:
        run = projections.query(
            "SELECT status, steps FROM train_runs WHERE job_id = $job", {"job": resumed.job_id}
        ).to_pylist()
    assert run == [{"status": "completed", "steps": 5}]


def test_resume_continues_the_same_stream_from_the_cli(store, home, examples, model_dir):
    config = SdftConfig(**{**CONFIG.__dict__, "checkpoint_every": 1, "max_steps": 3})
    with pytest.raises(KeyboardInterrupt):
        train(store, examples, model_dir=model_dir, config=config, name="cli", on_step=_stop_after(1))
    job_id = store.events(types=["train.started"])[-1].data.job_id
    store.close()

    result = CliRunner().invoke(app, ["train", "--resume", job_id, "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "adapter cli" in result.output
    again = CliRunner().invoke(app, ["train", "--resume", job_id, "--home", str(home)])
    assert again.exit_code == 1 and "already completed" in again.output


def test_resume_refuses_without_an_unfinished_job(store, examples):
    with pytest.raises(TrainingError, match="no unfinished training job"):
        resume(store)
    with pytest.raises(TrainingError, match="no training job nope"):
        resume(store, "nope")


def test_the_step0_diagnosis_names_the_unenriched_steps_and_reaches_the_viewer(store, events, model_dir):
    from dataclasses import replace

    from traj.eventlog import EnrichmentFailed
    from traj.view._queries import StoreView

    demo = events.demo("d1", steps=3, words=12)
    store.append("demo/d1", demo, expected_seq=0)
    actions = [e.event_id for e in demo if e.data.type == "action"]
    failed = EnrichmentFailed(
        demo_id="d1", action_id=actions[1], step_hash="h", model="m", prompt_version="1", reason="timeout"
    )
    store.append("enrich/d1", [failed], expected_seq=0)
    examples = training_examples(store, verified_only=False)
    config = SdftConfig(**{**CONFIG.__dict__, "max_steps": 1, "batch_size": 3})

    result = train(store, examples, model_dir=model_dir, config=config)

    diagnosis = result.diagnosis
    assert diagnosis.unenriched == ["demo d1: steps 0 (never enriched), 1 (timeout), 2 (never enriched)"]
    recorded = store.events(stream=f"train/{result.job_id}", types=["train.diagnosis"])
    assert [e.data for e in recorded] == [diagnosis.event(result.job_id)]
    warning = replace(diagnosis, kl=0.0).warning()
    assert "1 (timeout)" in warning and f"teacher right {diagnosis.teacher_accuracy:.0%}" in warning
    view = StoreView(store)
    try:
        shown = view.train_run(result.job_id)["diagnosis"]
    finally:
        view.close()
    assert shown["teacher_accuracy"] == diagnosis.teacher_accuracy
    assert shown["student_accuracy"] == diagnosis.student_accuracy
    assert shown["unenriched"] == diagnosis.unenriched


@pytest.mark.parametrize("backend", ["torch", "mlx"])
def test_start_from_trains_on_top_of_another_adapter_from_the_cli(store, home, examples, model_dir, backend):
    first = train(store, examples, model_dir=model_dir, config=CONFIG, name="task-a")
    store.close()
    args = ["train", "--demo", "d1", "--unverified", "--start-from", "task-a", "--backend", backend]
    args += ["--model", str(model_dir), "--steps", "1", "--rank", "4", "--name", "task-b", "--home", str(home)]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output
    with Store.open(home, readonly=True) as reader, Projections(reader) as projections:
        [made] = projections.query(
            "SELECT DISTINCT a.parent, t.config->>'start_from' AS start_from "
            "FROM adapters a JOIN train_runs t USING (job_id) "
            "WHERE a.name = 'task-b'"
        ).to_pylist()
    assert made == {"parent": "task-a", "start_from": "adapters/task-a/peft"}  # relative to the store
    assert first.peft_path == home / "adapters/task-a/peft"


def test_start_from_is_refused_with_resume_or_remote(home):
    for extra in (["--resume", "latest"], ["--remote", "http://127.0.0.1:9"]):
        result = CliRunner().invoke(app, ["train", "task", "--start-from", "a", *extra, "--home", str(home)])
        assert result.exit_code == 2 and "--start-from trains here" in result.output
