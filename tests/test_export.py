"""Exports are pure functions of the log: reproducible by position, blind to append order,
and local to the judged run."""

from __future__ import annotations

import tempfile
from pathlib import Path

from conftest import EventFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from traj.cli import app
from traj.datasets import export_bytes, export_dataset
from traj.eventlog import (
    Action,
    Element,
    Feedback,
    NewEvent,
    Observation,
    RunFinished,
    RunStarted,
    RunStep,
    Store,
)

EXPORTS = [("from_feedback", False), ("from_runs", False), ("from_runs", True), ("sdft", False), ("preference", False)]


def run_events(run_id: str, steps: list[bool], seed: int = 0) -> list[NewEvent]:
    """A run as the runtime appends it: each step an observation, the action when one was
    executed (``True``) or none when the model's output was rejected (``False``), and a run.step."""
    factory = EventFactory(seed)
    events = [NewEvent(data=RunStarted(run_id=run_id, task="price", goal="watch the price", url="http://x.test/"))]
    for index, executed in enumerate(steps):
        page = Observation(
            url=f"http://x.test/{index}",
            text=factory.text(20),
            elements=[Element(agent_id=str(k), tag="button", role="button", name=factory.text(2)) for k in range(3)],
            step=index,
        )
        observation = NewEvent(data=page)
        events.append(observation)
        action = {"kind": "CLICK", "target": str(index % 3), "value": None}
        if executed:
            events.append(
                NewEvent(
                    data=Action(kind="CLICK", target=action["target"], observation_id=observation.event_id, step=index)
                )
            )
        events.append(
            NewEvent(
                data=RunStep(
                    run_id=run_id,
                    step=index,
                    prompt_sha256="0" * 64,
                    prompt_tokens=100,
                    raw_output="click it" if not executed else str(action),
                    proposed=action if executed else None,
                    action=action if executed else None,
                    outcome="ok" if executed else "rejected",
                    error="" if executed else "no action in the output",
                )
            )
        )
    events.append(NewEvent(data=RunFinished(run_id=run_id, success=False, steps=len(steps))))
    return events


def feedback_event(run_id: str, label: str, step: int | None = None, correct: str | None = None) -> NewEvent:
    correction = None if correct is None else {"kind": "CLICK", "target": correct, "value": None}
    return NewEvent(data=Feedback(target=f"run/{run_id}", label=label, step=step, correction=correction))  # type: ignore[arg-type]


def all_exports(store: Store, as_of: int | None = None) -> dict[str, bytes]:
    out = {}
    for strategy, per_decision in EXPORTS:
        export = export_dataset(store, strategy, as_of=as_of, per_decision=per_decision)  # type: ignore[arg-type]
        for fmt in ("jsonl", "parquet"):
            out[f"{strategy}{'/steps' if per_decision else ''}.{fmt}"] = export_bytes(export, fmt)  # type: ignore[arg-type]
    return out


# ---------------------------------------------------------------- as of a position


def test_export_as_of_a_position_is_byte_identical_after_more_appends_and_a_seal(tmp_path: Path) -> None:
    home = tmp_path / "store"
    with Store.open(home) as store:
        store.append("demo/d1", EventFactory(1).demo("d1", steps=3), expected_seq=0)
        store.append("run/r1", run_events("r1", [True, False, True]), expected_seq=0)
        store.append(
            "feedback/run/r1", [feedback_event("r1", "bad"), feedback_event("r1", "bad", 0, "2")], expected_seq=0
        )
        as_of = store.next_position
    runner = CliRunner()

    def export(name: str, *args: str) -> dict[str, bytes]:
        files = {}
        (tmp_path / name).mkdir()
        for strategy in ("from_feedback", "from_runs", "sdft", "preference"):
            for fmt in ("jsonl", "parquet"):
                out = tmp_path / name / f"{strategy}.{fmt}"
                result = runner.invoke(
                    app,
                    ["export", "--strategy", strategy, "--format", fmt, "--out", str(out), "--home", str(home), *args],
                )
                assert result.exit_code == 0, result.output
                files[out.name] = out.read_bytes()
        return files

    first = export("first", "--as-of", str(as_of))
    assert all(first.values()), "every strategy has rows here"
    with Store.open(home) as store:
        store.append("feedback/run/r1", [feedback_event("r1", "good", 2, None)], expected_seq=2)
        store.append("run/r2", run_events("r2", [True]), expected_seq=0)
        store.append("feedback/run/r2", [feedback_event("r2", "bad", 0, "1")], expected_seq=0)
        store.append("demo/d2", EventFactory(2).demo("d2", steps=1), expected_seq=0)
        assert store.seal() is not None  # the old events now live in a Parquet segment, not the WAL
    again = export("again", "--as-of", str(as_of))
    latest = export("latest")
    assert again == first
    assert all(latest[name] != first[name] for name in first), "the appends change every strategy's file"


# ---------------------------------------------------------------- properties

step_lists = st.lists(st.booleans(), min_size=1, max_size=3)


@st.composite
def judged_runs(draw: st.DrawFn) -> dict[str, object]:
    """A few runs with random feedback (run labels, step labels, corrections) and a demo."""
    runs = {f"r{i}": draw(step_lists) for i in range(draw(st.integers(1, 3)))}
    streams: dict[str, list[NewEvent]] = {"demo/d1": EventFactory(3).demo("d1", steps=2)}
    for seed, (run_id, steps) in enumerate(runs.items()):
        streams[f"run/{run_id}"] = run_events(run_id, steps, seed)
        feedback = []
        if draw(st.booleans()):
            feedback.append(feedback_event(run_id, draw(st.sampled_from(["good", "bad"]))))
        for step in draw(st.lists(st.integers(0, len(steps) - 1), max_size=2)):
            correct = draw(st.one_of(st.none(), st.sampled_from(["0", "1", "2"])))
            label = "bad" if correct is not None else draw(st.sampled_from(["good", "bad"]))
            feedback.append(feedback_event(run_id, label, step, correct))
        if feedback:
            streams[f"feedback/run/{run_id}"] = feedback
    order = draw(st.permutations(list(streams)))
    return {"runs": runs, "streams": streams, "order": order}


def build(home: Path, streams: dict[str, list[NewEvent]], order: list[str]) -> Store:
    store = Store.open(home)
    for name in order:
        store.append(name, streams[name], expected_seq=0)
    return store


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(judged_runs())
def test_append_order_of_independent_streams_does_not_change_any_export(case: dict) -> None:
    streams, order = case["streams"], case["order"]
    with (
        tempfile.TemporaryDirectory() as scratch,
        build(Path(scratch) / "a", streams, sorted(streams)) as a,
        build(Path(scratch) / "b", streams, order) as b,
    ):
        assert all_exports(a) == all_exports(b)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(judged_runs(), st.data())
def test_feedback_on_one_run_changes_only_that_runs_rows(case: dict, data: st.DataObject) -> None:
    streams, runs = case["streams"], case["runs"]
    judged = data.draw(st.sampled_from(sorted(runs)))
    stream = f"run/{judged}"
    with tempfile.TemporaryDirectory() as scratch, build(Path(scratch), streams, case["order"]) as store:
        before = {key: _rows(store, *key) for key in EXPORTS}
        [trajectory] = [r for r in before[("from_runs", False)] if r["stream"] == stream]
        if data.draw(st.booleans(), label="flip the run's label"):
            new = feedback_event(judged, "good" if trajectory["run_label"] == "bad" else "bad")
        else:
            step = data.draw(st.integers(0, len(runs[judged]) - 1), label="step")
            new = feedback_event(judged, "bad", step, data.draw(st.sampled_from(["0", "1", "2"]), label="correction"))
        store.append(f"feedback/{stream}", [new], expected_seq=store.stream_seq(f"feedback/{stream}"))
        after = {key: _rows(store, *key) for key in EXPORTS}
    for key in EXPORTS:
        assert [r for r in after[key] if r["stream"] != stream] == [r for r in before[key] if r["stream"] != stream]
    if new.data.step is None:  # a new run label always shows in the run's trajectory
        assert [r for r in after[("from_runs", False)] if r["stream"] == stream] != [trajectory]


def _rows(store: Store, strategy: str, per_decision: bool) -> list[dict]:
    return export_dataset(store, strategy, per_decision=per_decision).table.to_pylist()  # type: ignore[arg-type]
