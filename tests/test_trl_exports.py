"""traj's exports feed stock TRL as they are: no renaming, the agent's chat template, traj's SDFT teacher.

The trainers run in ``.venv-trl`` (``bash scripts/setup-trl.sh``: trl, datasets, peft and torch,
no traj), through ``tests/trl_worker.py``; ``scripts/test.sh`` builds it and sets
``TRAJ_REQUIRE_TRL=1``, so in CI a missing environment fails here instead of skipping.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import EventFactory
from test_export import feedback_event, run_events
from typer.testing import CliRunner

from traj.cli import app
from traj.datasets import STRATEGIES, sdft_items
from traj.eventlog import Store
from traj.prompt import chat_text
from traj.train import training_examples

ROOT = Path(__file__).resolve().parents[1]
TRL_PYTHON = ROOT / ".venv-trl" / "bin" / "python"


@pytest.fixture(scope="module")
def trl_python() -> Path:
    if TRL_PYTHON.is_file():
        return TRL_PYTHON
    reason = f"no TRL environment at {TRL_PYTHON}; build it with: bash scripts/setup-trl.sh"
    if os.environ.get("CI") or os.environ.get("TRAJ_REQUIRE_TRL"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def judged_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo, two runs, a correction (a preference pair), a good step and a good run."""
    home = tmp_path_factory.mktemp("store")
    with Store.open(home) as store:
        store.append("demo/d1", EventFactory(1).demo("d1", steps=3, words=20), expected_seq=0)
        store.append("run/r1", run_events("r1", [True, True, False]), expected_seq=0)
        store.append("run/r2", run_events("r2", [True, True], seed=1), expected_seq=0)
        store.append(
            "feedback/run/r1", [feedback_event("r1", "bad", 0, "2"), feedback_event("r1", "good", 1)], expected_seq=0
        )
        store.append("feedback/run/r2", [feedback_event("r2", "good")], expected_seq=0)
    return home


@pytest.fixture(scope="module")
def exports(judged_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every strategy in both formats, written by ``traj export`` (from_runs one row per decision,
    sdft with TRL's teacher layout)."""
    out = tmp_path_factory.mktemp("exports")
    runner = CliRunner()
    for strategy in STRATEGIES:
        for fmt in ("jsonl", "parquet"):
            args = ["export", "--strategy", strategy, "--format", fmt, "--out", str(out / f"{strategy}.{fmt}")]
            args += ["--per-decision"] if strategy == "from_runs" else []
            args += ["--teacher-layout", "appended"] if strategy == "sdft" else []
            result = runner.invoke(app, [*args, "--home", str(judged_store)])
            assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def trl_report(trl_python: Path, exports: Path, model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    report = tmp_path_factory.mktemp("report") / "report.json"
    worker = Path(__file__).with_name("trl_worker.py")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [str(trl_python), str(worker), str(exports), str(model_dir), str(report)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=exports,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(report.read_text())


def test_the_trl_environment_holds_no_traj(trl_python: Path) -> None:
    done = subprocess.run(
        [str(trl_python), "-c", "import importlib.util as u; print(u.find_spec('traj'))"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        cwd="/",
    )
    assert done.stdout.strip() == "None"


def test_each_export_trains_one_step_in_the_matching_stock_trl_trainer(trl_report: dict) -> None:
    trained = trl_report["trained"]
    assert set(trained) == {"sft:from_feedback", "sft:from_runs", "sft:sdft", "dpo:preference", "sdft:sdft"}
    for name, result in trained.items():
        assert result["global_step"] == 1, name
        assert isinstance(result["loss"], float), f"{name}: loss {result['loss']}"


def test_jsonl_and_parquet_load_with_the_same_features(trl_report: dict) -> None:
    features = trl_report["features"]
    for strategy in STRATEGIES:
        jsonl, parquet = features[f"{strategy}.jsonl"], features[f"{strategy}.parquet"]
        assert list(jsonl) == list(parquet), strategy
        for column, typed in parquet.items():
            # JSON has no type for a field that is null in every row (here: values of CLICKs); Parquet keeps traj's.
            assert jsonl[column].replace("Value('null')", "Value('string')") == typed, f"{strategy}.{column}"
    assert "int64" in features["sdft.jsonl"]["step"] and "int64" in features["sdft.parquet"]["step"]
    assert "role" in features["sdft.parquet"]["prompt"] and "content" in features["preference.jsonl"]["chosen"]


def test_trls_sdft_teacher_is_trajs_with_the_appended_teacher_layout(
    trl_report: dict, judged_store: Path, model_dir: Path, exports: Path
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    with Store.open(judged_store, readonly=True) as store:
        items = list(sdft_items(store, verified_only=False))
        appended = list(sdft_items(store, verified_only=False, teacher_layout="appended"))
        trained = training_examples(store, verified_only=False, teacher_layout="appended")
    assert len(items) == 3
    teacher = [chat_text(tokenizer, item.teacher_query) for item in appended]
    # TRL's teacher text, character for character, is the one traj trains against with the option ...
    assert trl_report["teacher_texts"] == teacher == [chat_text(tokenizer, e.teacher_query) for e in trained]
    rows = [json.loads(line) for line in (exports / "sdft.jsonl").read_text().splitlines()]
    assert [r["teacher_prompt"][0]["content"] for r in rows] == [item.teacher_query for item in appended]
    # ... and not traj's default, which reads the demonstration after the rules, before the page.
    assert teacher != [chat_text(tokenizer, item.teacher_query) for item in items]
    assert all(i.teacher_query.index(i.context) < i.teacher_query.index("Goal: ") for i in items)
    # SFT on the same rows trains on the prompt the agent sends: its chat template, its token ids.
    agent_ids = [tokenizer(chat_text(tokenizer, i.query), add_special_tokens=False)["input_ids"] for i in items]
    assert trl_report["sft_prompt_ids"] == agent_ids
