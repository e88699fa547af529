"""The DuckDB projections: every view over a real store (WAL tail + Parquet segments), as-of
pinning, purity (the same SQL over one flat Parquet copy of the log gives the same rows),
read-only enforcement, read-only stores following a writer, and damaged segments.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pyarrow.parquet as pq
import pytest

from traj.errors import QueryError
from traj.eventlog import (
    Action,
    AdapterCreated,
    AdapterLoaded,
    AdapterUnloaded,
    DatasetSnapshot,
    DemoFinished,
    DemoStarted,
    Enrichment,
    EnrichmentFailed,
    Feedback,
    ImprovementJobCreated,
    ImprovementJobRan,
    ImprovementJobUpdated,
    NewEvent,
    Observation,
    Payload,
    ReplayFinished,
    ReplayStarted,
    ReplayStep,
    RunFinished,
    RunStarted,
    RunStep,
    SpecialistRegistered,
    SpecialistRolledBack,
    Store,
    TrainFinished,
    TrainStarted,
    TrainStep,
)
from traj.projections import VIEWS, Demo, DemoStep, Projections, create_views
from traj.prompt import taught_action

ALL_VIEWS = ("events", *VIEWS)


# ---------------------------------------------------------------- helpers


def new(payload: Payload) -> NewEvent:
    return NewEvent(data=payload)


def add(store: Store, stream: str, *items: Payload | NewEvent) -> list[NewEvent]:
    """Append ``items`` to ``stream`` at its current end (checked seq); return them as NewEvents."""
    batch = [item if isinstance(item, NewEvent) else new(item) for item in items]
    store.append(stream, batch, expected_seq=store.stream_seq(stream))
    return batch


def obs(tag: str, step: int, *, text: str | None = None) -> NewEvent:
    """An observation whose url and text say which stream and step it belongs to."""
    return new(
        Observation(
            url=f"https://{tag}.example.test/{step}",
            title=f"{tag} step {step}",
            text=text if text is not None else f"{tag} page text at step {step}",
            step=step,
        )
    )


def act(step: int, *, kind: str = "CLICK", target: str | None = "e1", value: str | None = None) -> NewEvent:
    return new(Action(kind=kind, target=target, value=value, step=step))  # type: ignore[arg-type]


def action_json(event: NewEvent) -> dict[str, Any]:
    data = event.data
    assert isinstance(data, Action)
    return {"kind": data.kind, "target": data.target, "value": data.value}


def rows(projections: Projections, sql: str, params: Any = None) -> list[dict[str, Any]]:
    return projections.query(sql, params).to_pylist()


def view_rows(run: Callable[[str], Any], view: str) -> tuple[Any, list[dict[str, Any]]]:
    """(schema, rows) of a whole view in a total order, through ``run(sql) -> Arrow table``."""
    table = run(f"SELECT * FROM {view} ORDER BY ALL")
    return table.schema, table.to_pylist()


def all_views(projections: Projections) -> dict[str, tuple[Any, list[dict[str, Any]]]]:
    return {view: view_rows(projections.query, view) for view in ALL_VIEWS}


def demo(
    store: Store, demo_id: str, steps: int, *, finish: bool = True, final_observation: bool = True, **started: Any
) -> tuple[list[NewEvent], list[NewEvent]]:
    """Append a demonstration (observation before every action); return (observations, actions)."""
    stream = f"demo/{demo_id}"
    fields = {"task": "checkout", "goal": f"buy the mug in {demo_id}", "url": "https://shop.example.test/"} | started
    add(store, stream, DemoStarted(demo_id=demo_id, **fields))
    observations, actions = [], []
    for step in range(steps):
        o, a = obs(demo_id, step), act(step, kind="TYPE" if step % 2 else "CLICK", value="mug" if step % 2 else None)
        add(store, stream, o, a)
        observations.append(o)
        actions.append(a)
    if final_observation:
        observations.append(add(store, stream, obs(demo_id, steps))[0])
    if finish:
        add(store, stream, DemoFinished(demo_id=demo_id, success=True, reason="done"))
    return observations, actions


def run(
    store: Store, run_id: str, steps: int, *, finish: bool = True, success: bool = True
) -> tuple[list[NewEvent], list[NewEvent]]:
    """Append an agent run; return (observations, actions)."""
    stream = f"run/{run_id}"
    add(
        store,
        stream,
        RunStarted(
            run_id=run_id,
            task="checkout",
            goal=f"goal of {run_id}",
            url="https://shop.example.test/",
            backend="transformers",
            model="tiny",
            adapter="form-v1",
        ),
    )
    observations, actions = [], []
    for step in range(steps):
        o, a = obs(run_id, step), act(step, target=f"e{step}")
        decided = RunStep(
            run_id=run_id,
            step=step,
            prompt_sha256=f"{step:064x}",
            prompt_tokens=700 + step,
            raw_output=f'{{"kind":"CLICK","target":"e{step}","value":null}}',
            completion_tokens=14,
            parse_method="json",
            outcome="ok",
            timings_ms={"generate": 120.0 + step},
            adapter="form-v1",
        )
        add(store, stream, o, a, decided)
        observations.append(o)
        actions.append(a)
    if finish:
        add(store, stream, RunFinished(run_id=run_id, success=success, reason="finished", steps=steps))
    return observations, actions


def enrichment(demo_id: str, action: NewEvent, model: str, prompt_version: str, explanation: str) -> Enrichment:
    return Enrichment(
        demo_id=demo_id,
        action_id=action.event_id,
        step_hash=f"hash-{action.event_id}",
        model=model,
        prompt_version=prompt_version,
        explanation=explanation,
        element_rationale=f"rationale for {explanation}",
        expected_outcome=f"outcome of {explanation}",
        thinking_steps=[f"{explanation}: look", f"{explanation}: act"],
    )


def failed_enrichment(demo_id: str, action: NewEvent, model: str, prompt_version: str) -> EnrichmentFailed:
    return EnrichmentFailed(
        demo_id=demo_id,
        action_id=action.event_id,
        step_hash=f"hash-{action.event_id}",
        model=model,
        prompt_version=prompt_version,
        reason="timeout",
        detail="no answer in 30 s",
    )


def train_job(store: Store, job_id: str, event_ids: list[str], *, parent: str | None = None) -> None:
    add(
        store,
        f"train/{job_id}",
        TrainStarted(
            job_id=job_id,
            objective="sdft",
            base_model="tiny-llama",
            base_model_hash="basehash",
            config={"lr": 1e-4},
            dataset=DatasetSnapshot(view="sdft_examples", as_of_position=store.next_position, event_ids=event_ids),
            parent_adapter=parent,
        ),
    )


def build_world(store: Store) -> int:
    """A log with rows in every view; returns the position it ends at."""
    _, d1_actions = demo(store, "d1", 2)
    demo(store, "d2", 1, finish=False, final_observation=False)
    run(store, "r1", 2)
    add(
        store,
        "replay/p1",
        ReplayStarted(replay_id="p1", demo_id="d1"),
        ReplayStep(
            replay_id="p1", demo_id="d1", step=0, action_id=d1_actions[0].event_id, status="ok", strategy="role"
        ),
        ReplayStep(replay_id="p1", demo_id="d1", step=1, action_id=d1_actions[1].event_id, status="healed"),
        ReplayFinished(replay_id="p1", demo_id="d1", success=True),
    )
    add(
        store,
        "enrich/d1",
        enrichment("d1", d1_actions[0], "vlm", "p1", "press the button"),
        failed_enrichment("d1", d1_actions[1], "vlm", "p1"),
    )
    add(
        store,
        "feedback",
        Feedback(target="run/r1", label="good"),
        Feedback(target="run/r1", step=1, label="bad", correction={"kind": "CLICK", "target": "e9"}, note="wrong"),
    )
    train_job(store, "j1", [a.event_id for a in d1_actions])
    add(
        store,
        "train/j1",
        TrainStep(job_id="j1", step=0, loss=2.0, kl=0.5),
        TrainStep(job_id="j1", step=1, loss=1.0, kl=0.25),
        TrainFinished(job_id="j1", status="completed", steps=2, adapter="a1"),
    )
    add(
        store,
        "adapter/a1",
        AdapterCreated(name="a1", job_id="j1", base_model="tiny-llama"),
        AdapterLoaded(name="a1", backend="vllm"),
    )
    add(
        store,
        "improve/j",
        ImprovementJobCreated(job="j", scope="task", target="checkout", objective="sft", settings={"steps": 2}),
        ImprovementJobRan(job="j", train_job_id="j1", adapter="a1", registered=True),
    )
    add(store, "specialist/checkout", SpecialistRegistered(task="checkout", adapter="a1"))
    return store.next_position


def extend_world(store: Store) -> None:
    """Events after ``build_world`` that change every view (new rows and superseding ones)."""
    demo(store, "d3", 1)
    run(store, "r2", 1, finish=False)
    d1_actions = [e for e in store.events(stream="demo/d1") if e.type == "action"]
    add(
        store,
        "enrich/d1",
        Enrichment(
            demo_id="d1",
            action_id=d1_actions[0].event_id,
            step_hash="h",
            model="vlm",
            prompt_version="p1",
            explanation="a newer explanation",
            element_rationale="r",
            expected_outcome="o",
        ),
    )
    add(store, "demo/d2", DemoFinished(demo_id="d2", success=False))
    add(
        store,
        "feedback",
        Feedback(target="run/r1", label="bad"),
        Feedback(target="run/r1", step=1, label="good"),  # withdraws the preference pair of step 1
        Feedback(target="run/r1", step=0, label="bad", correction={"kind": "NAVIGATE", "value": "/cart"}),
    )
    add(store, "train/j1", TrainStep(job_id="j1", step=2, loss=0.5))
    train_job(store, "j2", [d1_actions[1].event_id], parent="a1")
    add(store, "adapter/a1", AdapterUnloaded(name="a1", backend="vllm"))
    add(store, "adapter/a2", AdapterCreated(name="a2", job_id="j2", base_model="tiny-llama", parent="a1"))
    add(
        store,
        "improve/j",
        ImprovementJobUpdated(job="j", scope="task", target="checkout", objective="sdft", changed=["objective"]),
        ImprovementJobRan(job="j", train_job_id="j2", adapter="a2", parent="a1"),
    )
    add(
        store,
        "specialist/checkout",
        SpecialistRegistered(task="checkout", adapter="a2", previous="a1"),
        SpecialistRolledBack(task="checkout", adapter="a1", previous="a2", reason="parent"),
    )
    add(store, "replay/p1", ReplayStep(replay_id="p1", demo_id="d1", step=1, action_id="x", status="failed"))


@pytest.fixture
def projections(store: Store) -> Iterator[Projections]:
    """Projections over the test's store, opened before anything is appended (queries refresh)."""
    with Projections(store) as opened:
        yield opened


def wal_files(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "wal").glob("*.arrow"))


# ---------------------------------------------------------------- events = sealed segments + WAL tail


def test_views_lists_events_and_every_projection(projections):
    assert set(projections.views()) == set(ALL_VIEWS)
    assert all(description for description in projections.views().values())
    for view in ALL_VIEWS:  # every view exists and answers on an empty store
        assert projections.query(f"SELECT count(*) AS n FROM {view}").to_pylist() == [{"n": 0}]


def test_appends_are_visible_at_once_without_sealing(store, projections, events):
    assert rows(projections, "SELECT count(*) AS n FROM events") == [{"n": 0}]

    first = events.demo("d1", steps=2)
    store.append("demo/d1", first, expected_seq=0)

    assert store.manifest.segments == ()  # nothing sealed: every row comes from the WAL tail
    assert wal_files(store.home)
    got = projections.query("SELECT * FROM events ORDER BY position")
    assert got.to_pylist() == store.read().to_pylist()
    assert got["event_id"].to_pylist() == [e.event_id for e in first]
    assert got["seq"].to_pylist() == list(range(len(first)))
    assert [json.loads(d) for d in got["data"].to_pylist()] == [
        msgspec.json.decode(msgspec.json.encode(e.data)) for e in first
    ]

    second = events.demo("d2", steps=1)
    store.append("demo/d2", second, expected_seq=0)
    assert rows(projections, "SELECT count(*) AS n, max(position) AS last FROM events") == [
        {"n": len(first) + len(second), "last": len(first) + len(second) - 1}
    ]
    assert rows(projections, "SELECT demo_id FROM demos ORDER BY position") == [{"demo_id": "d1"}, {"demo_id": "d2"}]


def test_seal_and_compact_keep_the_same_rows(store, projections, events):
    store.append("demo/d1", events.demo("d1", steps=2), expected_seq=0)
    before = all_views(projections)

    store.seal()
    assert wal_files(store.home) == []
    assert len(store.manifest.segments) == 1
    assert all_views(projections) == before  # the same connection follows the seal

    store.append("demo/d2", events.demo("d2", steps=3), expected_seq=0)
    store.seal()
    store.append("demo/d3", events.demo("d3", steps=1), expected_seq=0)  # stays in the WAL
    assert len(store.manifest.segments) == 2
    expected = store.read().to_pylist()
    assert projections.query("SELECT * FROM events ORDER BY position").to_pylist() == expected
    three_demos = all_views(projections)
    assert [r["demo_id"] for r in three_demos["demos"][1]] == ["d1", "d2", "d3"]

    store.compact()
    assert len(store.manifest.segments) == 1
    assert wal_files(store.home) == []
    assert all_views(projections) == three_demos
    with Projections(store) as fresh:
        assert all_views(fresh) == three_demos


def test_as_of_pins_every_view_to_the_log_as_it_was(store):
    end = build_world(store)
    with Projections(store) as then:
        at_the_time = all_views(then)
    for view in ALL_VIEWS:  # the world fills every view, so the comparison below means something
        assert at_the_time[view][1], f"{view} is empty"

    extend_world(store)
    store.compact()  # the single segment now straddles the pinned position
    assert store.next_position > end

    with Projections(store, as_of=end) as pinned:
        assert all_views(pinned) == at_the_time
        assert rows(pinned, "SELECT max(position) AS last FROM events") == [{"last": end - 1}]
    with Projections(store) as live:
        now = all_views(live)
    # The later events change every view, so each one above really was pinned.
    assert {view for view in ALL_VIEWS if now[view] != at_the_time[view]} == set(ALL_VIEWS)

    with Projections(store, as_of=0) as empty:
        for view in ALL_VIEWS:
            assert empty.query(f"SELECT count(*) AS n FROM {view}").to_pylist() == [{"n": 0}], view


def test_as_of_also_pins_events_appended_after_the_projections_were_opened(store):
    demo(store, "d1", 1)
    end = store.next_position
    with Projections(store, as_of=end) as pinned:
        before = all_views(pinned)
        demo(store, "d2", 2)  # the WAL tail grows past the pin
        assert all_views(pinned) == before
        store.seal()
        demo(store, "d3", 1)
        assert all_views(pinned) == before
        assert rows(pinned, "SELECT demo_id FROM demos") == [{"demo_id": "d1"}]


# ---------------------------------------------------------------- steps


def test_steps_pair_each_action_with_the_observations_before_and_after_in_its_own_stream(store, projections):
    # Two demos interleaved event by event in the log, plus a run:
    #   d1: started, o0, a0, o1, a1, o2, finished
    #   d2: started, a0 (no observation yet), o0, a1, a2 (two actions in a row), finished
    d1 = "demo/d1"
    d2 = "demo/d2"
    add(store, d1, DemoStarted(demo_id="d1", task="t", goal="g1", url="u"))
    add(store, d2, DemoStarted(demo_id="d2", task="t", goal="g2", url="u"))
    d1_o0 = add(store, d1, obs("d1", 0))[0]
    d2_a0 = add(store, d2, act(0, target="first"))[0]
    d1_a0 = add(store, d1, act(0, target="x0"))[0]
    d2_o0 = add(store, d2, obs("d2", 0))[0]
    d1_o1 = add(store, d1, obs("d1", 1))[0]
    d2_a1 = add(store, d2, act(1, kind="TYPE", target="x1", value="hello"))[0]
    d1_a1 = add(store, d1, act(1, target="y1"))[0]
    d2_a2 = add(store, d2, act(2, kind="PRESS_ENTER", target=None))[0]
    d1_o2 = add(store, d1, obs("d1", 2))[0]
    add(store, d2, DemoFinished(demo_id="d2"))
    add(store, d1, DemoFinished(demo_id="d1"))
    r_obs, r_acts = run(store, "r1", 1)

    # The setup really is interleaved: d2's last action comes before d1's last observation.
    positions = {r["event_id"]: r["position"] for r in rows(projections, "SELECT event_id, position FROM events")}
    assert positions[d2_a2.event_id] < positions[d1_o2.event_id]

    got = {r["action_id"]: r for r in rows(projections, "SELECT * FROM steps")}
    assert set(got) == {e.event_id for e in (d1_a0, d1_a1, d2_a0, d2_a1, d2_a2, r_acts[0])}

    def around(action: NewEvent) -> tuple[str | None, str | None]:
        row = got[action.event_id]
        return row["observation_id"], row["next_observation_id"]

    assert around(d1_a0) == (d1_o0.event_id, d1_o1.event_id)
    assert around(d1_a1) == (d1_o1.event_id, d1_o2.event_id)
    assert around(d2_a0) == (None, d2_o0.event_id)  # nothing observed before it
    assert around(d2_a1) == (d2_o0.event_id, None)  # the next d2 event is another action, then none
    assert around(d2_a2) == (d2_o0.event_id, None)  # no observation after it, although d1 has one later
    assert around(r_acts[0]) == (r_obs[0].event_id, None)

    row = got[d1_a1.event_id]
    assert (row["source"], row["stream_id"], row["stream"], row["step"]) == ("demo", "d1", d1, 1)
    assert (row["url"], row["title"], row["page_text"]) == (
        "https://d1.example.test/1",
        "d1 step 1",
        "d1 page text at step 1",
    )
    assert (row["next_url"], row["next_page_text"]) == ("https://d1.example.test/2", "d1 page text at step 2")
    assert json.loads(row["action_json"]) == action_json(d1_a1)
    typed = got[d2_a1.event_id]
    assert (typed["kind"], typed["target"], typed["value"]) == ("TYPE", "x1", "hello")
    assert json.loads(typed["action_json"]) == {"kind": "TYPE", "target": "x1", "value": "hello"}
    assert got[d2_a2.event_id]["url"] == "https://d2.example.test/0"
    assert got[d2_a0.event_id]["url"] is None
    assert got[r_acts[0].event_id]["source"] == "run"
    assert (
        rows(projections, "SELECT count(*) AS n FROM observations")
        == [{"n": 4 + len(r_obs)}]  # d1: 3, d2: 1, the run: 1
    )


def test_steps_carry_elements_screenshot_and_locators_of_the_observation(store, projections, events):
    shot = store.put_blob(b"\x89PNG fake screenshot")
    before = events.observation(0, screenshot=shot)
    click = events.action(0, observation_id=before.event_id)
    after = events.observation(1)
    add(store, "demo/d1", DemoStarted(demo_id="d1", task="t", goal="g", url="u"), before, click, after)

    (row,) = rows(projections, "SELECT * FROM steps")
    assert row["screenshot"] == shot
    assert row["next_screenshot"] is None
    assert row["observation_id"] == before.event_id == click.data.observation_id
    assert [e["agent_id"] for e in json.loads(row["elements"])] == [e.agent_id for e in before.data.elements]
    assert [tuple(loc) for loc in json.loads(row["locators"])] == list(click.data.locators)
    assert row["page_text"] == before.data.text
    assert row["next_page_text"] == after.data.text


# ---------------------------------------------------------------- demos, runs, replays


def test_demos_report_task_goal_outcome_and_step_count(store, projections):
    demo(store, "d1", 3, seed=42, source="script")
    demo(store, "d2", 1, finish=False)
    add(store, "demo/d3", DemoStarted(demo_id="d3", task="search", goal="find", url="https://s.test/"))
    add(store, "demo/d3", DemoFinished(demo_id="d3", success=False, reason="gave up"))
    add(store, "demo/d3", DemoFinished(demo_id="d3", success=True, answer="42"))  # the later verdict wins
    run(store, "r1", 2)  # actions of runs are not demo steps

    got = {r["demo_id"]: r for r in rows(projections, "SELECT * FROM demos")}
    assert set(got) == {"d1", "d2", "d3"}
    d1, d2, d3 = got["d1"], got["d2"], got["d3"]
    assert (d1["task"], d1["goal"], d1["seed"], d1["source"], d1["steps"]) == (
        "checkout",
        "buy the mug in d1",
        42,
        "script",
        3,
    )
    assert d1["success"] is True
    assert d1["finished_at"] is not None
    assert d1["started_at"] <= d1["finished_at"]
    assert (d2["source"], d2["seed"], d2["steps"]) == ("human", None, 1)
    assert (d2["success"], d2["finished_at"], d2["answer"]) == (None, None, None)
    assert (d3["task"], d3["steps"], d3["success"], d3["answer"]) == ("search", 0, True, "42")
    assert d1["position"] < d2["position"] < d3["position"]


def test_runs_report_backend_adapter_outcome_and_step_count(store, projections):
    run(store, "r1", 2, success=False)
    run(store, "r2", 1, finish=False)
    demo(store, "d1", 4)

    got = {r["run_id"]: r for r in rows(projections, "SELECT * FROM runs")}
    assert set(got) == {"r1", "r2"}
    r1, r2 = got["r1"], got["r2"]
    assert (r1["stream"], r1["goal"], r1["backend"], r1["model"], r1["adapter"]) == (
        "run/r1",
        "goal of r1",
        "transformers",
        "tiny",
        "form-v1",
    )
    assert (r1["success"], r1["reason"], r1["steps"]) == (False, "finished", 2)
    assert (r2["success"], r2["reason"], r2["finished_at"], r2["steps"]) == (None, None, None, 1)


def test_replay_steps_report_status_and_strategy(store, projections):
    _, actions = demo(store, "d1", 3)
    add(
        store,
        "replay/p1",
        ReplayStarted(replay_id="p1", demo_id="d1"),
        ReplayStep(
            replay_id="p1", demo_id="d1", step=0, action_id=actions[0].event_id, status="ok", strategy="test_id"
        ),
        ReplayStep(
            replay_id="p1", demo_id="d1", step=1, action_id=actions[1].event_id, status="healed", strategy="policy"
        ),
        ReplayStep(
            replay_id="p1", demo_id="d1", step=2, action_id=actions[2].event_id, status="failed", reason="not found"
        ),
        ReplayFinished(replay_id="p1", demo_id="d1", success=False),
    )

    got = rows(projections, "SELECT * FROM replay_steps ORDER BY position")
    assert [(r["step"], r["status"], r["strategy"]) for r in got] == [
        (0, "ok", "test_id"),
        (1, "healed", "policy"),
        (2, "failed", ""),
    ]
    assert [r["action_id"] for r in got] == [a.event_id for a in actions]
    assert {(r["replay_id"], r["demo_id"], r["stream"]) for r in got} == {("p1", "d1", "replay/p1")}
    assert got[2]["reason"] == "not found"


# ---------------------------------------------------------------- enrichments


def test_enrichments_keep_the_latest_valid_attempt_per_action_model_and_prompt_version(store, projections):
    _, (a0, a1) = demo(store, "d1", 2)
    add(
        store,
        "enrich/d1",
        enrichment("d1", a0, "vlm", "p1", "old"),
        enrichment("d1", a0, "vlm", "p1", "new"),
        failed_enrichment("d1", a0, "vlm", "p1"),  # a later failure does not hide the valid one
        enrichment("d1", a0, "vlm", "p2", "other prompt"),
        enrichment("d1", a0, "other-vlm", "p1", "other model"),
        failed_enrichment("d1", a1, "vlm", "p1"),  # only failures: no enrichment at all
    )

    got = rows(projections, "SELECT * FROM enrichments ORDER BY position")
    assert [(r["action_id"], r["model"], r["prompt_version"], r["explanation"]) for r in got] == [
        (a0.event_id, "vlm", "p1", "new"),
        (a0.event_id, "vlm", "p2", "other prompt"),
        (a0.event_id, "other-vlm", "p1", "other model"),
    ]
    assert got[0]["element_rationale"] == "rationale for new"
    assert json.loads(got[0]["thinking_steps"]) == ["new: look", "new: act"]
    assert "failure_reason" not in got[0]

    attempts = rows(projections, "SELECT * FROM enrichment_attempts ORDER BY position")
    assert [(r["valid"], r["explanation"], r["failure_reason"]) for r in attempts] == [
        (True, "old", None),
        (True, "new", None),
        (False, None, "timeout"),
        (True, "other prompt", None),
        (True, "other model", None),
        (False, None, "timeout"),
    ]
    assert attempts[-1]["action_id"] == a1.event_id
    assert attempts[-1]["failure_detail"] == "no answer in 30 s"


# ---------------------------------------------------------------- feedback and training pairs


def test_feedback_latest_marks_the_label_in_force_per_target_and_step(store, projections):
    run(store, "r1", 2)
    run(store, "r2", 1)
    add(
        store,
        "feedback",
        Feedback(target="run/r1", label="bad"),
        Feedback(target="run/r1", step=0, label="bad", correction={"kind": "CLICK", "target": "e7"}),
        Feedback(target="run/r2", label="good"),
        Feedback(target="run/r1", label="good", note="on second look"),  # supersedes the first
        Feedback(target="run/r1", step=1, label="good"),
    )

    got = rows(projections, "SELECT * FROM feedback ORDER BY position")
    assert [(r["target"], r["step"], r["label"], r["latest"]) for r in got] == [
        ("run/r1", None, "bad", False),
        ("run/r1", 0, "bad", True),
        ("run/r2", None, "good", True),
        ("run/r1", None, "good", True),
        ("run/r1", 1, "good", True),
    ]
    assert {r["target_kind"] for r in got} == {"run"}
    assert json.loads(got[1]["correction"]) == {"kind": "CLICK", "target": "e7"}
    assert got[3]["note"] == "on second look"


def test_feedback_without_a_correction_has_a_null_correction(store, projections):
    run(store, "r1", 1)
    add(store, "feedback", Feedback(target="run/r1", step=0, label="bad"))

    (row,) = rows(projections, "SELECT correction, correction IS NULL AS missing FROM feedback")
    # The payload stores "correction": null; the view must not turn that into the JSON text 'null'.
    assert row == {"correction": None, "missing": True}


def test_sft_pairs_take_demo_steps_good_runs_and_corrections(store, projections):
    _, demo_actions = demo(store, "d1", 2)
    good_obs, good_actions = run(store, "good", 2)
    _, bad_actions = run(store, "bad", 1)
    run(store, "unlabelled", 1)
    _, mixed_actions = run(store, "mixed", 2)
    _, relabelled_actions = run(store, "relabelled", 1)
    correction = {"kind": "TYPE", "target": "e5", "value": "blue mug"}
    add(
        store,
        "feedback",
        Feedback(target="run/good", label="good"),
        Feedback(target="run/bad", label="bad"),
        Feedback(target="run/mixed", label="good"),
        Feedback(target="run/mixed", step=1, label="bad", correction=correction),
        Feedback(target="run/relabelled", label="good"),
        Feedback(target="run/relabelled", label="bad"),  # the latest label is bad: excluded
    )

    got = rows(projections, "SELECT * FROM sft_pairs")
    by_origin: dict[str, set[str]] = {}
    for r in got:
        by_origin.setdefault(r["origin"], set()).add(r["action_id"])
    assert by_origin == {
        "demonstration": {a.event_id for a in demo_actions},
        "good_run": {a.event_id for a in good_actions} | {mixed_actions[0].event_id},
        "correction": {mixed_actions[1].event_id},
    }
    excluded = {a.event_id for a in (*bad_actions, *relabelled_actions)}
    assert not excluded & {r["action_id"] for r in got}

    pair = next(r for r in got if r["action_id"] == good_actions[1].event_id)
    assert pair["prompt"] == (
        f"Goal: goal of good\nURL: {good_obs[1].data.url}\nPage:\n{good_obs[1].data.text}"  # type: ignore[union-attr]
    )
    assert json.loads(pair["completion"]) == action_json(good_actions[1])
    assert (pair["stream"], pair["step"], pair["task"]) == ("run/good", 1, "checkout")

    fixed = next(r for r in got if r["origin"] == "correction")
    assert json.loads(fixed["completion"]) == correction
    assert fixed["stream"] == "run/mixed"
    assert fixed["step"] == 1

    demo_pair = next(r for r in got if r["action_id"] == demo_actions[0].event_id)
    assert demo_pair["prompt"].startswith("Goal: buy the mug in d1\nURL: https://d1.example.test/0\nPage:\n")


def test_sft_pairs_drop_a_demo_step_labelled_bad(store, projections):
    _, actions = demo(store, "d1", 2)
    add(store, "feedback", Feedback(target="demo/d1", step=0, label="bad", correction={"kind": "WAIT"}))

    got = rows(projections, "SELECT action_id, origin, completion FROM sft_pairs ORDER BY origin")
    assert [(r["action_id"], r["origin"]) for r in got] == [
        (actions[0].event_id, "correction"),
        (actions[1].event_id, "demonstration"),
    ]
    assert json.loads(got[0]["completion"]) == {"kind": "WAIT"}


def test_a_bad_step_label_without_a_correction_makes_no_correction_pair(store, projections):
    _, actions = run(store, "r1", 2)
    add(store, "feedback", Feedback(target="run/r1", label="good"), Feedback(target="run/r1", step=1, label="bad"))

    got = rows(projections, "SELECT action_id, origin, completion FROM sft_pairs")
    # Step 0 is a good-run pair; step 1 was judged bad with nothing to learn instead.
    assert [(r["action_id"], r["origin"]) for r in got] == [(actions[0].event_id, "good_run")]


def test_preference_pairs_put_the_correction_over_the_action_taken(store, projections):
    r_obs, r_actions = run(store, "r1", 3)
    fix0 = {"kind": "CLICK", "target": "e9"}
    add(
        store,
        "feedback",
        Feedback(target="run/r1", step=0, label="bad", correction=fix0, note="wrong button"),
        Feedback(target="run/r1", step=1, label="bad", correction={"kind": "SCROLL"}),
        Feedback(target="run/r1", step=1, label="good"),  # withdrawn: no pair for step 1
        Feedback(target="run/r1", label="bad", correction={"kind": "FINISH"}),  # run-level: no step to pair
    )

    got = rows(projections, "SELECT * FROM preference_pairs")
    assert len(got) == 1
    (pair,) = got
    assert (pair["stream"], pair["step"], pair["action_id"], pair["note"]) == (
        "run/r1",
        0,
        r_actions[0].event_id,
        "wrong button",
    )
    assert json.loads(pair["chosen"]) == fix0
    assert json.loads(pair["rejected"]) == action_json(r_actions[0])
    assert pair["prompt"] == f"Goal: goal of r1\nURL: {r_obs[0].data.url}\nPage:\n{r_obs[0].data.text}"  # type: ignore[union-attr]


def test_a_bad_step_label_without_a_correction_makes_no_preference_pair(store, projections):
    run(store, "r1", 1)
    add(store, "feedback", Feedback(target="run/r1", step=0, label="bad"))

    assert rows(projections, "SELECT chosen FROM preference_pairs") == []


# ---------------------------------------------------------------- training, adapters, lineage


def test_train_runs_and_kl_metrics(store, projections):
    train_job(store, "j1", [])
    add(
        store,
        "train/j1",
        TrainStep(job_id="j1", step=0, loss=3.0, kl=0.9, grad_norm=1.5, lr=1e-4, tokens_per_s=100.0),
        TrainStep(job_id="j1", step=1, loss=2.0, kl=None),
        TrainStep(job_id="j1", step=2, loss=1.5, kl=0.3, teacher_drift=0.01),
        TrainFinished(job_id="j1", status="completed", steps=3, adapter="a1"),
    )
    train_job(store, "j2", [], parent="a1")
    add(store, "train/j2", TrainStep(job_id="j2", step=0, loss=9.0, kl=4.0))

    runs = {r["job_id"]: r for r in rows(projections, "SELECT * FROM train_runs")}
    j1, j2 = runs["j1"], runs["j2"]
    assert (j1["status"], j1["adapter"], j1["steps"], j1["last_loss"], j1["last_kl"]) == (
        "completed",
        "a1",
        3,
        1.5,
        0.3,
    )
    assert (j1["objective"], j1["base_model"], j1["base_model_hash"], j1["parent_adapter"]) == (
        "sdft",
        "tiny-llama",
        "basehash",
        None,
    )
    assert json.loads(j1["config"]) == {"lr": 1e-4}
    assert json.loads(j1["dataset"])["view"] == "sdft_examples"
    assert j1["finished_at"] is not None
    assert (j2["status"], j2["adapter"], j2["steps"], j2["last_loss"], j2["finished_at"]) == (
        "running",
        None,
        1,
        9.0,
        None,
    )
    assert j2["parent_adapter"] == "a1"

    metrics = rows(projections, "SELECT * FROM kl_metrics ORDER BY position")
    assert [(m["job_id"], m["step"], m["loss"], m["kl"]) for m in metrics] == [
        ("j1", 0, 3.0, 0.9),
        ("j1", 1, 2.0, None),
        ("j1", 2, 1.5, 0.3),
        ("j2", 0, 9.0, 4.0),
    ]
    assert (metrics[0]["grad_norm"], metrics[0]["lr"], metrics[0]["tokens_per_s"]) == (1.5, 1e-4, 100.0)
    assert metrics[2]["teacher_drift"] == 0.01


def test_train_runs_last_metrics_follow_log_order_not_step_numbers(store, projections):
    train_job(store, "j1", [])
    # Steps logged out of order (a resumed job re-logging step 0 last): "last" means last in the log.
    add(store, "train/j1", TrainStep(job_id="j1", step=5, loss=1.0, kl=0.1))
    add(store, "train/j1", TrainStep(job_id="j1", step=0, loss=7.0, kl=0.7))

    (row,) = rows(projections, "SELECT last_loss, last_kl, steps FROM train_runs")
    assert row == {"last_loss": 7.0, "last_kl": 0.7, "steps": 2}


def test_adapters_loaded_in_follows_the_order_of_loads_and_unloads(store, projections):
    for name in ("a1", "a2", "a3", "a4"):
        add(store, f"adapter/{name}", AdapterCreated(name=name, job_id=f"j-{name}", base_model="tiny", format="peft"))
    add(store, "adapter/a1", AdapterLoaded(name="a1", backend="vllm"))
    add(store, "adapter/a2", AdapterLoaded(name="a2", backend="vllm"))
    add(store, "adapter/a1", AdapterLoaded(name="a1", backend="transformers"))
    add(store, "adapter/a2", AdapterUnloaded(name="a2", backend="vllm"))
    add(store, "adapter/a1", AdapterUnloaded(name="a1", backend="vllm"))
    add(store, "adapter/a2", AdapterLoaded(name="a2", backend="vllm"))  # loaded again after the unload
    add(store, "adapter/a4", AdapterLoaded(name="a4", backend="mlx"), AdapterUnloaded(name="a4", backend="mlx"))

    got = {r["name"]: r for r in rows(projections, "SELECT * FROM adapters")}
    assert {name: r["loaded_in"] for name, r in got.items()} == {
        "a1": ["transformers"],
        "a2": ["vllm"],
        "a3": [],
        "a4": [],
    }
    assert (got["a1"]["job_id"], got["a1"]["base_model"], got["a1"]["format"]) == ("j-a1", "tiny", "peft")


def test_adapters_loaded_in_lists_every_backend_sorted(store, projections):
    add(store, "adapter/a1", AdapterCreated(name="a1", job_id="j1", base_model="tiny"))
    for backend in ("vllm", "mlx", "transformers"):
        add(store, "adapter/a1", AdapterLoaded(name="a1", backend=backend))

    assert rows(projections, "SELECT loaded_in FROM adapters") == [{"loaded_in": ["mlx", "transformers", "vllm"]}]


def test_lineage_goes_from_adapter_to_job_to_dataset_events_and_demos(store, projections):
    _, d1_actions = demo(store, "d1", 2)
    _, d2_actions = demo(store, "d2", 1)
    _, r_actions = run(store, "r1", 1)
    sources = [d1_actions[0].event_id, d1_actions[1].event_id, d2_actions[0].event_id, r_actions[0].event_id]
    missing = "01900000-0000-7000-8000-000000000000"
    train_job(store, "j1", [*sources, missing])
    as_of = store.next_position - 1  # train_job snapshots the position it was appended at
    add(store, "adapter/a1", AdapterCreated(name="a1", job_id="j1", base_model="tiny-llama", parent="a0"))
    add(store, "adapter/orphan", AdapterCreated(name="orphan", job_id="no-such-job", base_model="tiny-llama"))

    got = rows(projections, "SELECT * FROM lineage")
    assert {r["adapter"] for r in got} == {"a1"}  # an adapter without a training run has no lineage
    by_source = {r["source_event_id"]: r for r in got}
    assert len(got) == len(by_source) == 5
    assert {eid: (r["source_stream"], r["source_type"], r["demo_id"]) for eid, r in by_source.items()} == {
        d1_actions[0].event_id: ("demo/d1", "action", "d1"),
        d1_actions[1].event_id: ("demo/d1", "action", "d1"),
        d2_actions[0].event_id: ("demo/d2", "action", "d2"),
        r_actions[0].event_id: ("run/r1", "action", None),
        missing: (None, None, None),
    }
    assert {
        (r["job_id"], r["objective"], r["dataset_view"], r["as_of_position"], r["parent_adapter"], r["base_model"])
        for r in got
    } == {("j1", "sdft", "sdft_examples", as_of, "a0", "tiny-llama")}
    assert {r["base_model_hash"] for r in got} == {"basehash"}


# ---------------------------------------------------------------- SDFT examples


def test_sdft_examples_use_the_enrichment_as_context_else_the_raw_action(store, projections):
    observations, (a0, a1) = demo(store, "d1", 2)
    run(store, "r1", 2)  # run steps are not SDFT examples
    add(
        store,
        "enrich/d1",
        enrichment("d1", a0, "vlm", "p1", "first explanation"),
        enrichment("d1", a0, "big-vlm", "p2", "the latest explanation"),
        failed_enrichment("d1", a1, "vlm", "p1"),
    )

    got = {r["step"]: r for r in rows(projections, "SELECT * FROM sdft_examples")}
    assert set(got) == {0, 1}
    enriched, raw = got[0], got[1]

    assert (enriched["action_id"], enriched["context_source"], enriched["enrichment_model"]) == (
        a0.event_id,
        "enrichment",
        "big-vlm",
    )
    # Every step's context is the whole demonstration (traj.prompt.render_teacher_context): the
    # enriched step explained, the failed one as its raw action.
    assert (
        enriched["context"]
        == raw["context"]
        == (
            "Demonstration of: buy the mug in d1\n"
            f"Step 1: {enriched['target']}\n"
            "   Why: the latest explanation\n"
            "   Element: rationale for the latest explanation\n"
            "   Expected outcome: outcome of the latest explanation\n"
            "   Thinking: the latest explanation: look / the latest explanation: act\n"
            f"Step 2: {raw['target']}\n"
            'Step 3: {"kind":"FINISH","target":null,"value":null}'  # the person ended it with the task done
        )
    )
    assert "first explanation" not in enriched["context"]
    assert enriched["context_version"] == raw["context_version"] == "4"
    assert json.loads(enriched["target"]) == action_json(a0)

    assert (raw["action_id"], raw["context_source"], raw["enrichment_model"]) == (a1.event_id, "raw_action", None)
    assert json.loads(raw["target"]) == action_json(a1)

    for step, row in got.items():
        page = observations[step].data
        assert row["query"] == f"Goal: buy the mug in d1\nURL: {page.url}\nPage:\n{page.text}"  # type: ignore[union-attr]
        assert (row["demo_id"], row["task"], row["goal"]) == ("d1", "checkout", "buy the mug in d1")
        assert "Demonstrated action" not in row["query"]  # the student never sees the demonstration


@pytest.mark.parametrize(
    ("finished", "answer", "ends"),
    [
        (None, None, None),  # still recording, or cut off: no end to show
        (False, None, None),  # the person gave up: it did not end with the task done
        (True, None, '{"kind":"FINISH","target":null,"value":null}'),
        (True, "AB12CD", '{"kind":"FINISH","target":null,"value":"AB12CD"}'),  # a question's answer
        (None, "AB12CD", '{"kind":"FINISH","target":null,"value":"AB12CD"}'),  # no verdict: stopped when done
    ],
)
def test_the_teachers_demonstration_ends_with_finish_only_when_the_task_was_done(
    store, projections, finished, answer, ends
):
    demo(store, "d1", 2, finish=False)
    if finished is not None or answer is not None:
        add(store, "demo/d1", DemoFinished(demo_id="d1", success=finished, answer=answer))
    (context,) = {r["context"] for r in rows(projections, "SELECT context FROM sdft_examples")}
    steps = [line for line in context.splitlines() if line.startswith("Step ")]
    assert len(steps) == (3 if ends else 2)
    assert ends is None or steps[-1] == f"Step 3: {ends}"


def test_a_demonstration_that_already_finishes_gets_no_second_finish(store, projections):
    demo(store, "d1", 1, finish=False, final_observation=False)
    add(store, "demo/d1", obs("d1", 1), act(1, kind="FINISH", target=None))
    add(store, "demo/d1", DemoFinished(demo_id="d1", success=True))
    (context,) = {r["context"] for r in rows(projections, "SELECT context FROM sdft_examples")}
    steps = [line for line in context.splitlines() if line.startswith("Step ")]
    assert len(steps) == 2 and "FINISH" in steps[1]
    started, page, finish = DemoStarted(demo_id="d1", task="t", goal="g", url="u"), obs("d1", 1).data, act(1).data
    recorded = DemoStep(page, msgspec.structs.replace(finish, kind="FINISH", target=None), "a1")  # type: ignore[arg-type]
    ended = Demo("d1", started, [recorded], final=page, success=True, finished_id="f1")  # type: ignore[arg-type]
    assert not ended.concluded, "the feed adds no FINISH item after it either"


# ---------------------------------------------------------------- purity: a function of the log alone


def test_views_over_one_flat_parquet_copy_of_the_log_equal_the_projections(store, tmp_path):
    end = build_world(store)
    store.seal()
    extend_world(store)  # part sealed, part in the WAL tail
    assert store.manifest.segments
    assert wal_files(store.home)
    assert store.next_position > end

    flat = tmp_path / "flat.parquet"
    pq.write_table(store.read(), flat)
    con = duckdb.connect()
    try:
        create_views(con, f"read_parquet('{flat}')")
        from_flat = {view: view_rows(lambda sql: con.sql(sql).to_arrow_table(), view) for view in ALL_VIEWS}
    finally:
        con.close()
    with Projections(store) as projections:
        from_store = all_views(projections)

    for view in ALL_VIEWS:
        assert from_flat[view][1], f"{view} is empty: the comparison would prove nothing"
        assert from_flat[view][0] == from_store[view][0], f"{view}: schemas differ"
        assert from_flat[view][1] == from_store[view][1], f"{view}: rows differ"


def test_projections_rebuilt_on_a_reopened_store_give_the_same_rows(home):
    with Store.open(home) as writer:
        build_world(writer)
        writer.seal()
        extend_world(writer)
        with Projections(writer) as live:
            before = all_views(live)
    with Store.open(home, readonly=True) as reader, Projections(reader) as rebuilt:
        assert all_views(rebuilt) == before


# ---------------------------------------------------------------- read-only enforcement


@pytest.fixture
def locked(store, events, tmp_path, tree_bytes):
    """A store with sealed and WAL events, its Projections, and a check that nothing on disk changed."""
    store.append("demo/d1", events.demo("d1", steps=2), expected_seq=0)
    store.seal()
    store.append("demo/d2", events.demo("d2", steps=1), expected_seq=0)
    projections = Projections(store)
    before = tree_bytes(tmp_path)

    def unchanged() -> None:
        assert tree_bytes(tmp_path) == before

    yield projections, unchanged
    projections.close()


def writing_statements(home: Path, outside: Path) -> Iterable[str]:
    segments = home / "segments"
    return [
        "INSERT INTO events SELECT * FROM events",
        "CREATE TABLE stolen AS SELECT * FROM events",
        "CREATE OR REPLACE VIEW demos AS SELECT 1 AS demo_id",
        "DROP VIEW demos",
        "DELETE FROM events",
        f"COPY (SELECT * FROM events) TO '{outside / 'out.csv'}'",
        f"COPY (SELECT * FROM events) TO '{segments / 'planted.parquet'}' (FORMAT parquet)",
        f"ATTACH '{outside / 'attached.duckdb'}' AS evil",
        f"ATTACH '{segments / 'attached.duckdb'}' AS evil",
        f"EXPORT DATABASE '{outside / 'export'}'",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "RESET lock_configuration",
        "PRAGMA enable_profiling",
        "CALL pragma_version()",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SELECT 1; SELECT 2",
        f"SELECT 1; COPY (SELECT 1) TO '{outside / 'second.csv'}'",
        "",
        "EXPLAIN ANALYZE CREATE TABLE stolen AS SELECT 1",
        f"EXPLAIN ANALYZE COPY (SELECT * FROM events) TO '{segments / 'explained.csv'}'",
        f"EXPLAIN ANALYZE COPY (SELECT * FROM events) TO '{outside / 'explained.csv'}'",
        f"EXPLAIN (ANALYZE) COPY (SELECT 1) TO '{segments / 'paren.csv'}'",
        f"explain\nanalyse\n-- a comment\ncopy (SELECT 1) TO '{segments / 'lower.csv'}'",
    ]


def test_statements_that_could_write_are_refused_and_touch_nothing(locked, home, tmp_path, one_line):
    projections, unchanged = locked
    demos_before = rows(projections, "SELECT * FROM demos ORDER BY ALL")
    for sql in writing_statements(home, tmp_path):
        with pytest.raises(QueryError) as caught:
            projections.query(sql)
        one_line(caught.value)
        unchanged()
    for leftover in ("out.csv", "attached.duckdb", "export", "second.csv", "explained.csv"):
        assert not (tmp_path / leftover).exists(), leftover
    assert sorted(p.suffix for p in (home / "segments").iterdir()) == [".parquet"]
    # Nothing was created or replaced in the session either.
    with pytest.raises(QueryError, match="stolen"):
        projections.query("SELECT * FROM stolen")
    assert rows(projections, "SELECT * FROM demos ORDER BY ALL") == demos_before
    settings = rows(
        projections,
        "SELECT current_setting('enable_external_access') AS external, current_setting('lock_configuration') AS locked",
    )
    assert settings == [{"external": False, "locked": True}]


def test_refusals_name_the_statement_kind(locked):
    projections, _ = locked
    with pytest.raises(QueryError, match="COPY"):
        projections.query("EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'")
    with pytest.raises(QueryError, match="INSERT"):
        projections.query("INSERT INTO events SELECT * FROM events")
    with pytest.raises(QueryError, match="2"):
        projections.query("SELECT 1; SELECT 2")


OUTSIDE_READS = (
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/hostname')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM read_text('{home}/manifest.json')",
    "SELECT * FROM read_text('{home}/segments/../manifest.json')",
    "SELECT * FROM read_parquet('{home}/wal/*.arrow')",
)


def test_reading_files_outside_the_segments_is_refused_by_duckdb(locked, home, one_line):
    projections, unchanged = locked
    for sql in OUTSIDE_READS:
        with pytest.raises(QueryError) as caught:
            projections.query(sql.format(home=home))
        message = one_line(caught.value)
        assert "permission" in message.lower(), sql  # refused by DuckDB's lock-down, not by a missing file
        assert "root:" not in message
    unchanged()


def test_reading_the_segments_directly_is_allowed(locked, home):
    projections, _ = locked
    (segment,) = (home / "segments").glob("*.parquet")
    got = rows(projections, f"SELECT count(*) AS n FROM read_parquet('{segment}')")
    sealed = rows(projections, "SELECT count(*) AS n FROM events WHERE position < ?", [len(pq.read_table(segment))])
    assert got == sealed


def test_explain_and_explain_analyze_of_a_select_work(locked):
    projections, unchanged = locked
    plain = projections.query("EXPLAIN SELECT * FROM sdft_examples")
    analyzed = projections.query("EXPLAIN ANALYZE SELECT count(*) FROM steps")
    assert plain.num_rows >= 1
    assert analyzed.num_rows >= 1
    assert plain.column_names == analyzed.column_names == ["explain_key", "explain_value"]
    assert "physical_plan" in plain["explain_key"].to_pylist()
    assert "analyzed_plan" in analyzed["explain_key"].to_pylist()
    unchanged()


def test_a_sql_error_is_a_one_line_query_error(locked, one_line):
    projections, _ = locked
    with pytest.raises(QueryError) as syntax:
        projections.query("SELEC * FROM demos")
    assert "syntax error" in one_line(syntax.value).lower()
    with pytest.raises(QueryError) as unknown:
        projections.query("SELECT * FROM no_such_view")
    assert "no_such_view" in one_line(unknown.value)
    with pytest.raises(QueryError) as column:
        projections.query("SELECT no_such_column FROM demos")
    assert "no_such_column" in one_line(column.value)
    # The connection still works after the errors.
    assert rows(projections, "SELECT count(*) AS n FROM demos") == [{"n": 2}]


def test_query_parameters(locked):
    projections, _ = locked
    assert rows(projections, "SELECT demo_id FROM demos WHERE demo_id = ?", ["d2"]) == [{"demo_id": "d2"}]
    assert rows(projections, "SELECT demo_id FROM demos WHERE demo_id = $id", {"id": "d1"}) == [{"demo_id": "d1"}]
    # A parameter is a value, never SQL.
    assert rows(projections, "SELECT count(*) AS n FROM demos WHERE demo_id = ?", ["d1' OR '1'='1"]) == [{"n": 0}]
    assert rows(projections, "SELECT 1 AS one;") == [{"one": 1}]  # a trailing semicolon is still one statement


# ---------------------------------------------------------------- read-only stores follow the writer


def test_projections_over_a_readonly_store_see_what_the_writer_appends_later(store, home):
    demo(store, "d1", 1)
    with Store.open(home, readonly=True) as reader, Projections(reader) as projections:
        assert rows(projections, "SELECT demo_id FROM demos") == [{"demo_id": "d1"}]

        demo(store, "d2", 2)  # no explicit refresh: query() refreshes
        assert rows(projections, "SELECT demo_id, steps FROM demos ORDER BY position") == [
            {"demo_id": "d1", "steps": 1},
            {"demo_id": "d2", "steps": 2},
        ]

        store.seal()
        assert wal_files(home) == []
        demo(store, "d3", 1)
        demos = rows(projections, "SELECT demo_id FROM demos ORDER BY position")
        assert [r["demo_id"] for r in demos] == ["d1", "d2", "d3"]

        store.compact()
        demo(store, "d4", 1)
        assert projections.query("SELECT * FROM events ORDER BY position").to_pylist() == store.read().to_pylist()
        assert rows(projections, "SELECT count(*) AS n FROM steps") == [{"n": 5}]
        with Projections(store) as writer_side:
            assert all_views(projections) == all_views(writer_side)


# ---------------------------------------------------------------- damaged segments


def _flip_middle_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, middle + 16):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("readonly", [False, True], ids=["writer", "reader"])
def test_a_damaged_segment_is_listed_and_left_out_of_every_view(home, readonly):
    with Store.open(home) as writer:
        demo(writer, "d1", 2)
        first = writer.seal()
        demo(writer, "d2", 1)
        second = writer.seal()
        demo(writer, "d3", 1)  # left in the WAL
        assert first is not None
        assert second is not None
    _flip_middle_bytes(home / "segments" / first.file)

    with Store.open(home, readonly=readonly) as reopened, Projections(reopened) as projections:
        assert set(projections.damaged) == {first.file}
        assert first.file in projections.damaged[first.file]
        assert rows(projections, "SELECT demo_id FROM demos ORDER BY position") == [
            {"demo_id": "d2"},
            {"demo_id": "d3"},
        ]
        positions = [r["position"] for r in rows(projections, "SELECT position FROM events ORDER BY position")]
        assert positions == list(range(second.first_position, reopened.next_position))
        for view in ALL_VIEWS:  # nothing crashes on the damaged file
            projections.query(f"SELECT count(*) FROM {view}")
        assert {r["stream_id"] for r in rows(projections, "SELECT stream_id FROM steps")} == {"d2", "d3"}


def test_a_demonstrated_wait_is_taught_without_the_seconds_the_person_paused(store, projections):
    # The agent's WAIT takes no value (its constraint allows none), so every view that feeds
    # training shows a recorded WAIT as the agent would emit it; the action row keeps the pause.
    stream = "demo/d1"
    add(
        store, stream, DemoStarted(demo_id="d1", task="alert", goal="watch the price", url="https://shop.example.test/")
    )
    waited = act(1, kind="WAIT", target=None, value="1.3")
    add(store, stream, obs("d1", 0), act(0), obs("d1", 1), waited, obs("d1", 2))
    add(store, stream, DemoFinished(demo_id="d1", success=True, reason="done"))
    taught = {"kind": "WAIT", "target": None, "value": None}

    assert taught_action("WAIT", None, "1.3").to_json() == json.dumps(taught, separators=(",", ":"))
    assert taught_action("TYPE", "4", "1.3").value == "1.3"  # only a WAIT loses its value
    (recorded,) = rows(projections, "SELECT value, action_json FROM actions WHERE kind = 'WAIT'")
    assert recorded["value"] == "1.3" and json.loads(recorded["action_json"]) == taught
    (pair,) = rows(projections, "SELECT completion FROM sft_pairs WHERE action_id = ?", [waited.event_id])
    assert json.loads(pair["completion"]) == taught
    example = rows(projections, "SELECT target, context FROM sdft_examples WHERE action_id = ?", [waited.event_id])[0]
    assert json.loads(example["target"]) == taught
    assert "1.3" not in example["context"] and f"Step 2: {example['target']}" in example["context"]
