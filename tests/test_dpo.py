"""DPO on corrected runs: the tiny model learns to prefer the corrected action, and the job is
recorded like any other (events, adapters in both formats, lineage to the judged runs)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from test_export import feedback_event, run_events
from typer.testing import CliRunner

from traj.cli import app
from traj.errors import TrainingError
from traj.eventlog import Store
from traj.projections import Projections
from traj.train import SdftConfig, SdftTrainer, batches, preference_examples, train

CONFIG = SdftConfig(objective="dpo", rank=8, lora_alpha=16.0, learning_rate=2e-3, batch_size=4, max_steps=6)


@pytest.fixture
def corrected(store: Store) -> Store:
    """Four runs, each with one wrong click corrected to another element."""
    for index in range(4):
        run_id = f"r{index}"
        store.append(f"run/{run_id}", run_events(run_id, [True, True], seed=index), expected_seq=0)
        right = str(1 + index % 2)  # every run clicked element "0" at step 0
        store.append(f"feedback/run/{run_id}", [feedback_event(run_id, "bad", 0, right)], expected_seq=0)
    return store


def test_dpo_raises_the_chosen_over_rejected_margin_on_the_training_pairs(corrected, tiny_model):
    examples = preference_examples(corrected)
    assert len(examples) == 4 and all(e.target != e.rejected for e in examples)
    plan = batches(examples, CONFIG)
    trainer = SdftTrainer(tiny_model, CONFIG, total_steps=len(plan))
    before = trainer.preference_margins(examples)
    metrics = [trainer.step(batch) for batch in plan]
    after = trainer.preference_margins(examples)
    # A fresh LoRA is the reference model itself: no margin yet, the loss is exactly log 2.
    assert metrics[0].loss == pytest.approx(math.log(2), abs=1e-5)
    assert metrics[0].margin == pytest.approx(0.0, abs=1e-6)
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
    assert sum(after) / 4 > sum(before) / 4 + 1.0
    assert metrics[-1].margin > 0 and metrics[-1].loss < math.log(2)
    print(f"margin before {sum(before) / 4:.3f} after {sum(after) / 4:.3f}; loss {[round(m.loss, 4) for m in metrics]}")


def test_a_dpo_job_is_recorded_with_lineage_to_the_judged_runs(corrected, tiny_model, tmp_path):
    examples = preference_examples(corrected)
    config = dataclasses.replace(CONFIG, max_steps=2)
    result = train(corrected, examples, model_dir=tiny_model, config=config, name="price-dpo", out_dir=tmp_path / "a")
    with Projections(corrected) as projections:
        [job] = projections.query("SELECT objective, status, steps, dataset FROM train_runs").to_pylist()
        lineage = projections.query(
            "SELECT DISTINCT source_stream, source_type, dataset_view FROM lineage WHERE adapter = 'price-dpo' "
            "ORDER BY source_stream"
        ).to_pylist()
        margins = projections.query("SELECT margin, kl FROM kl_metrics ORDER BY step").to_pylist()
        formats = projections.query("SELECT format FROM adapters WHERE name = 'price-dpo' ORDER BY format").to_pylist()
    assert (job["objective"], job["status"], job["steps"]) == ("dpo", "completed", 2)
    assert lineage == [
        {"source_stream": f"run/r{i}", "source_type": "action", "dataset_view": "decision_pairs"} for i in range(4)
    ]
    assert [m["kl"] for m in margins] == [None, None] and margins[0]["margin"] == pytest.approx(0.0, abs=1e-6)
    assert [f["format"] for f in formats] == ["mlx", "peft"]
    assert (result.peft_path / "adapter_model.safetensors").exists()


def test_traj_train_objective_dpo(corrected, tiny_model, home: Path):
    corrected.close()
    runner = CliRunner()
    args = ["train", "--objective", "dpo", "--model", str(tiny_model), "--steps", "1", "--home", str(home)]
    result = runner.invoke(app, [*args, "--name", "dpo-cli"])
    assert result.exit_code == 0, result.output
    assert "adapter dpo-cli" in result.output
    Store.open(home / "empty", create=True).close()
    none = runner.invoke(app, [*args[:-2], "--home", str(home / "empty")])
    assert none.exit_code == 1 and "no preference pairs" in none.output
    missing = runner.invoke(app, [*args[:-2], "--home", str(home / "missing")])
    assert missing.exit_code == 1 and "no traj store at" in missing.output
    assert not (home / "missing").exists(), "a refused command creates nothing"


def test_dpo_needs_pairs_and_the_torch_backend(store, corrected, tiny_model):
    with pytest.raises(TrainingError, match="no preference pairs of task 'calendar'"):
        preference_examples(store, task="calendar")
    with pytest.raises(TrainingError, match="torch backend only"):
        train(store, preference_examples(store), model_dir=tiny_model, config=CONFIG, backend="mlx")
