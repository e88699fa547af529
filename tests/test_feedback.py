"""Feedback on a real run in Chromium becomes exactly the expected rows of every export strategy.

The run is driven by a scripted policy on the bundled price site: a wrong click, a turn with no
action, then the right typing and the right click. A person judges the run bad, corrects the
first step and approves the last; a demonstration sits beside it in the same store.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_agent_run import ScriptedPolicy
from typer.testing import CliRunner

from traj.agent import FeedbackError, record_feedback, run_on_page
from traj.cli import app
from traj.datasets import export_bytes, export_dataset, sdft_items
from traj.eventlog import Store
from traj.projections import Projections
from traj.prompt import refer_values

NOTE = "Check the warranty first"
BUDGET = ScriptedPolicy.context_window - 64  # what the runtime gives a prompt: context minus max_new_tokens


def _count(text: str) -> int:
    return len(text) // 4  # ScriptedPolicy.count_tokens


def _action(kind: str, target: str | None = None, value: str | None = None) -> str:
    return json.dumps({"kind": kind, "target": target, "value": value}, separators=(",", ":"))


@pytest.fixture(scope="module")
def judged(tmp_path_factory, browser, sites_server):
    """A store with one synthetic demo and one real run, judged; the run's prompts as the agent saw them."""
    from conftest import EventFactory

    home = tmp_path_factory.mktemp("feedback") / "store"
    with Store.open(home) as store:
        store.append("demo/d1", EventFactory(seed=5).demo("d1", steps=2), expected_seq=0)
        context = browser.new_context()
        page = context.new_page()
        url = f"{sites_server.url}/price/?seed=3&fast=1"
        policy = ScriptedPolicy(
            [_action("CLICK", "2"), "hmm, let me think", _action("TYPE", "3", NOTE), _action("CLICK", "4")]
        )
        result = run_on_page(store, policy, page, task="price", url=url, max_steps=4)
        goal = page.evaluate("window.traj.goal")
        context.close()
        before = store.next_position
        record_feedback(store, result.run_id, "bad", note="it added shoes to the cart")
        record_feedback(store, result.run_id, "bad", step=0, correction={"kind": "TYPE", "target": "3", "value": NOTE})
        record_feedback(store, f"run/{result.run_id}", "good", step=3)
    typed = refer_values(_action("TYPE", "3", NOTE), goal)  # the note, as the model writes it: the goal's $N
    assert typed != _action("TYPE", "3", NOTE)
    return {
        "home": home,
        "run": result,
        "prompts": [p.text for p in policy.prompts],
        "before_feedback": before,
        "typed": typed,
    }


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _export(judged, strategy: str, **kwargs):
    with Store.open(judged["home"], readonly=True) as store:
        return export_dataset(store, strategy, budget_tokens=BUDGET, count_tokens=_count, **kwargs)


def test_the_run_took_the_scripted_steps(judged):
    assert [s.outcome for s in judged["run"].steps] == ["ok", "rejected", "ok", "ok"]


def test_from_feedback_has_one_row_per_judged_decision_plus_the_correction(judged):
    rows = _export(judged, "from_feedback").table.to_pylist()
    stream = f"run/{judged['run'].run_id}"
    got = [
        (r["stream"], r["step"], r["origin"], r["label"], r["output"]["action"], r["output"]["selectorOrRef"])
        for r in rows
    ]
    assert got == [
        ("demo/d1", 0, "demonstration", "good", rows[0]["output"]["action"], "e1"),
        ("demo/d1", 1, "demonstration", "good", rows[1]["output"]["action"], "e1"),
        (stream, 0, "step_feedback", "bad", "CLICK", "2"),
        (stream, 0, "correction", "good", "TYPE", "3"),
        (stream, 2, "run_feedback", "bad", "TYPE", "3"),  # no label of its own: the run's
        (stream, 3, "step_feedback", "good", "CLICK", "4"),  # its own label beats the run's
    ]
    prompts = judged["prompts"]
    # The prompt is exactly what the agent read at that step (the runtime records its hash too).
    assert [r["prompt"] for r in rows[2:]] == [_user(prompts[i]) for i in (0, 0, 2, 3)]
    # TRL's SFT columns: the labelled action (the correction on a corrected step) as the assistant's turn.
    assert [r["completion"] for r in rows[2:4]] == [
        _assistant(_action("CLICK", "2")),
        _assistant(judged["typed"]),
    ]
    correction = rows[3]
    assert correction["output"]["value"] == NOTE and correction["action_id"] is None
    assert correction["input"]["pageSnapshot"] == rows[2]["input"]["pageSnapshot"]
    assert '[3] textbox "Note for yourself"' in correction["input"]["pageSnapshot"]["elements"]
    assert rows[4]["input"]["history"][1].startswith("Step 2: hmm, let me think -> error: ")  # the rejected turn
    assert rows[4]["input"]["task"].startswith("Watch the price of the Trailrunner")


def test_exported_prompts_hash_to_what_the_runtime_recorded(judged):
    import hashlib

    rows = _export(judged, "from_runs", per_decision=True).table.to_pylist()
    with Store.open(judged["home"], readonly=True) as store, Projections(store) as projections:
        recorded = projections.query(
            "SELECT step, prompt_sha256 FROM run_steps WHERE run_id = $id ORDER BY step", {"id": judged["run"].run_id}
        ).to_pylist()
    [turn] = {len(r["prompt"]) for r in rows}
    assert turn == 1 and all(r["prompt"][0]["role"] == "user" for r in rows)
    prompts = [r["prompt"][0]["content"] for r in rows]
    assert [hashlib.sha256(p.encode()).hexdigest() for p in prompts] == [r["prompt_sha256"] for r in recorded]
    # The completion is what the agent answered: its action, else its raw text.
    assert [r["completion"] for r in rows[:2]] == [_assistant(_action("CLICK", "2")), _assistant("hmm, let me think")]


def test_from_runs_holds_the_whole_trajectory_and_the_same_steps_sliced(judged):
    [run] = _export(judged, "from_runs").table.to_pylist()
    sliced = _export(judged, "from_runs", per_decision=True).table.to_pylist()
    assert run["run_id"] == judged["run"].run_id and run["task"] == "price" and run["run_label"] == "bad"
    steps = run["decisions"]
    assert [(s["step"], s["outcome"], s["label"]) for s in steps] == [
        (0, "ok", "bad"),
        (1, "rejected", "bad"),
        (2, "ok", "bad"),
        (3, "ok", "good"),
    ]
    assert steps[0]["action"] == _action("CLICK", "2") and steps[1]["action"] is None
    assert steps[1]["raw_output"] == "hmm, let me think" and steps[1]["action_id"] is None
    assert [{k: r[k] for k in steps[0]} for r in sliced] == steps
    assert all(r["run_id"] == run["run_id"] and r["run_label"] == "bad" for r in sliced)


def test_preference_pairs_the_correction_with_the_judged_action_in_the_agents_context(judged):
    rows = _export(judged, "preference").table.to_pylist()
    assert [(r["step"], r["chosen"], r["rejected"]) for r in rows] == [
        (0, _assistant(judged["typed"]), _assistant(_action("CLICK", "2")))
    ]
    assert rows[0]["prompt"] == _user(judged["prompts"][0]) and rows[0]["task"] == "price"


def test_sdft_rows_are_the_training_feed_with_trl_column_names(judged):
    table = _export(judged, "sdft").table
    assert table.column_names[3:6] == ["prompt", "completion", "privileged_context"]
    rows = table.to_pylist()
    with Store.open(judged["home"], readonly=True) as store:
        items = list(sdft_items(store, verified_only=False, budget_tokens=BUDGET, count_tokens=_count))
    assert [(r["demo_id"], r["step"], r["prompt"], r["privileged_context"], r["completion"]) for r in rows] == [
        (i.demo_id, i.step, _user(i.query), i.context, _assistant(i.target)) for i in items
    ]
    assert [r["teacher_prompt"] for r in rows] == [_user(i.teacher_query) for i in items]
    assert len(rows) == 2 and not any(r["verified"] for r in rows)  # no replay verified the demo


def test_feedback_is_in_its_own_stream_and_the_latest_label_wins(judged, tmp_path):
    import shutil

    home = tmp_path / "copy"
    shutil.copytree(judged["home"], home)
    run_id = judged["run"].run_id
    with Store.open(home) as store:
        run_length = store.stream_seq(f"run/{run_id}")
        record_feedback(store, run_id, "good", step=0)  # the person changed their mind
        assert store.stream_seq(f"feedback/run/{run_id}") == 4
        assert store.stream_seq(f"run/{run_id}") == run_length  # the judged run is never written to
        rows = export_dataset(store, "from_feedback", budget_tokens=BUDGET, count_tokens=_count).table.to_pylist()
    run_rows = [(r["step"], r["origin"], r["label"]) for r in rows if r["stream"] == f"run/{run_id}"]
    assert run_rows == [(0, "step_feedback", "good"), (2, "run_feedback", "bad"), (3, "step_feedback", "good")]


# ---------------------------------------------------------------- validation: nothing appended


@pytest.mark.parametrize(
    ("target", "kwargs", "message"),
    [
        ("0190aaaa-0000-7000-8000-000000000000", {}, "no run '0190aaaa-0000-7000-8000-000000000000'"),
        ("demo/nope", {}, "no demo 'nope'"),
        ("RUN", {"step": 4}, "step 4 is out of range: run/RUN has steps 0..3"),
        ("RUN", {"step": -1}, "step -1 is out of range"),
        ("demo/d1", {"step": 2}, "step 2 is out of range: demo/d1 has steps 0..1"),
        ("RUN", {"step": 0, "correction": "{not json"}, "the correction is not valid JSON"),
        ("RUN", {"step": 0, "correction": "[1, 2]"}, "must be a JSON object"),
        ("RUN", {"step": 0, "correction": {"kind": "FLY"}}, "malformed correction: unknown action kind 'FLY'"),
        ("RUN", {"step": 0, "correction": {"kind": "CLICK"}}, "malformed correction: CLICK needs a target"),
        ("RUN", {"step": 0, "correction": {"kind": "CLICK", "target": "99"}}, "element '99' was not on the page"),
        ("RUN", {"correction": {"kind": "CLICK", "target": "4"}}, "a correction needs --step and the label 'bad'"),
    ],
)
def test_invalid_feedback_is_refused_and_nothing_is_appended(judged, tmp_path, one_line, target, kwargs, message):
    import shutil

    home = tmp_path / "copy"
    shutil.copytree(judged["home"], home)
    target = target.replace("RUN", judged["run"].run_id)
    with Store.open(home) as store:
        end = store.next_position
        with pytest.raises(FeedbackError) as caught:
            record_feedback(store, target, "bad", **kwargs)
        assert store.next_position == end
    assert message.replace("RUN", judged["run"].run_id) in one_line(caught.value)


def test_a_correction_with_a_good_label_is_refused(judged, tmp_path):
    import shutil

    home = tmp_path / "copy"
    shutil.copytree(judged["home"], home)
    with Store.open(home) as store, pytest.raises(FeedbackError, match="needs --step and the label 'bad'"):
        record_feedback(store, judged["run"].run_id, "good", step=0, correction={"kind": "CLICK", "target": "4"})


# ---------------------------------------------------------------- the commands


def test_feedback_and_export_commands(judged, tmp_path):
    import shutil

    home = tmp_path / "copy"
    shutil.copytree(judged["home"], home)
    run_id = judged["run"].run_id
    runner = CliRunner()
    bad = runner.invoke(app, ["feedback", run_id, "bad", "--step", "9", "--home", str(home)])
    assert bad.exit_code == 1 and "step 9 is out of range" in bad.output
    ok = runner.invoke(
        app,
        [
            "feedback",
            run_id,
            "bad",
            "--step",
            "2",
            "--correct",
            '{"action": "click", "target": 4}',
            "--home",
            str(home),
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert f"run/{run_id} step 2: bad, should have been" in ok.output
    out = tmp_path / "pairs.parquet"
    exported = runner.invoke(
        app, ["export", "--strategy", "preference", "--format", "parquet", "--out", str(out), "--home", str(home)]
    )
    assert exported.exit_code == 0, exported.output
    assert "wrote 2 preference rows as of position" in exported.output
    rows = pq.read_table(out).to_pylist()
    assert [(r["step"], r["chosen"][0]["content"]) for r in rows] == [
        (0, judged["typed"]),
        (2, _action("CLICK", "4")),
    ]
    nope = runner.invoke(app, ["export", "--strategy", "everything", "--home", str(home)])
    assert nope.exit_code != 0 and "--strategy is one of" in nope.output


def test_export_as_of_before_the_feedback_has_no_judged_rows(judged):
    rows = _export(judged, "from_feedback", as_of=judged["before_feedback"]).table.to_pylist()
    assert {r["stream"] for r in rows} == {"demo/d1"}  # the run, not yet judged, is unlabelled
    with Store.open(judged["home"], readonly=True) as store:
        assert export_bytes(export_dataset(store, "preference", as_of=judged["before_feedback"]), "jsonl") == b""


def test_export_past_the_end_of_the_log_is_refused(judged):
    with Store.open(Path(judged["home"]), readonly=True) as store, pytest.raises(Exception, match="outside the log"):
        export_dataset(store, "sdft", as_of=store.next_position + 1)
