"""Observed replays on other instances: the states a student learns a task's values from.

One demonstration shows one instance's values. A replay with ``observe`` records each page and
the action as done on that instance, and a successful one feeds SDFT beside the demo, the
teacher reading the demonstration as it went there. The property: every step of a successful
observed replay is one item whose target is the element on *that* page and whose values are
*that* instance's, and nothing else (a failed replay, an unobserved one) teaches anything.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from traj.browser import launch, record
from traj.cli import app
from traj.datasets import instance_items, sdft_items
from traj.demo import record_demonstration
from traj.eventlog import Enrichment, ReplayFinished, ReplayFinishedV1, Store, SuccessSpec
from traj.projections import instance_of, load_demo
from traj.prompt import parse_action, resolve_values
from traj.replay import evaluate, instance_demonstration, replay_demo
from traj.train import training_examples

PAGES = {
    "order.html": """<!doctype html><html><body>
<div id="promos"></div>
<form onsubmit="event.preventDefault(); done.textContent =
  'Sent ' + qty.value + ' to ' + who.value">
  <label>Name <input id="who"></label>
  <label>Quantity <input id="qty"></label>
  <button>Send</button>
</form>
<p id="done"></p>
<script>
  // other instances of the page carry promotions before the form: every id after them shifts
  const extra = Number(new URLSearchParams(location.search).get('extra') || 0);
  for (let i = 0; i < extra; i++) {
    const b = document.createElement('button'); b.textContent = 'Promo ' + i; promos.append(b);
  }
</script>
</body></html>""",
}


def _demonstrate(page) -> None:
    page.click("#who")
    page.keyboard.type("Ada")
    page.click("#qty")
    page.keyboard.type("12")
    page.click("text=Send")
    page.wait_for_selector("text=Sent 12 to Ada")


def _order_demo(store, site: str) -> str:
    return record(
        store,
        f"{site}/order.html",
        task="order",
        goal="Send 12 to Ada",
        demonstrator=_demonstrate,
        headless=True,
        variables={"qty": "12", "name": "Ada"},
        success_spec=SuccessSpec(texts=["Sent {qty} to {name}"]),
    ).demo_id


def test_an_observed_replay_records_each_page_and_the_action_done_on_that_instance(store, site) -> None:
    demo_id = _order_demo(store, site)
    with launch(headless=True) as session:
        result = replay_demo(
            store, demo_id, session.page, url=f"{site}/order.html?extra=3", goal="Send 7 to Bo", observe=True
        )
    assert result.success is True

    events = store.events(stream=f"replay/{result.replay_id}")
    observations = [e for e in events if e.type == "observation"]
    actions = [e for e in events if e.type == "action"]
    demo = load_demo(store, demo_id)
    assert len(observations) - 1 == len(actions) == len(demo.steps), "each step's page and the page it ended on"
    assert "Sent 7 to Bo" in observations[-1].data.text
    for shown, observed, done in zip(demo.steps, observations[:-1], actions, strict=True):
        assert done.data.observation_id == observed.event_id
        assert done.data.kind == shown.action.kind
        acted = next(e for e in observed.data.elements if e.agent_id == done.data.target)
        assert acted.name == shown.target.name, "the same control, by its id on this page"
        assert done.data.target != shown.action.target, "three promotions before the form shift every id"
    assert [a.data.value for a in actions if a.data.kind == "TYPE"] == ["Bo", "7"]
    finished = events[-1].data
    assert isinstance(finished, ReplayFinished) and finished.goal == "Send 7 to Bo"


def test_a_replay_that_failed_or_observed_nothing_is_no_instance(store, site) -> None:
    demo_id = _order_demo(store, site)
    demo = load_demo(store, demo_id)
    url, goal = f"{site}/order.html?extra=1", "Send 5 to Cy"
    with launch(headless=True) as session:
        _replays_that_teach_nothing_and_one_that_does(store, demo, session.browser, url, goal)


def _replays_that_teach_nothing_and_one_that_does(store, demo, browser, url: str, goal: str) -> None:
    demo_id = demo.demo_id
    plain = replay_demo(store, demo_id, browser.new_page(), url=url, goal=goal)
    assert plain.success is True
    assert instance_of(demo, store.events(stream=f"replay/{plain.replay_id}")) is None, "no page was observed"

    gone = browser.new_page()
    gone.route("**/order.html*", lambda route: route.fulfill(body="<p>moved</p>", content_type="text/html"))
    broken = replay_demo(store, demo_id, gone, url=url, goal=goal, observe=True, timeout_s=2.0)
    assert broken.success is False
    events = store.events(stream=f"replay/{broken.replay_id}")
    types = [e.type for e in events]
    assert types.count("observation") == 1 and "action" not in types, "the page it failed on, no action"
    assert instance_of(demo, events) is None

    observed = replay_demo(store, demo_id, browser.new_page(), url=url, goal=goal, observe=True)
    assert observed.success is True
    assert {i.stream for i in instance_items(store)} == {f"replay/{observed.replay_id}"}


def test_each_step_of_an_instance_is_an_item_the_teacher_reads_as_it_went_there(store, sites_server) -> None:
    demo_id = record_demonstration(store, sites_server.url, "expense", 0)
    demo = load_demo(store, demo_id)
    first = demo.steps[1]
    store.append(
        f"enrich/{demo_id}",
        [
            Enrichment(
                demo_id=demo_id, action_id=first.action_id, step_hash="h", model="m", prompt_version="1",
                explanation=f"Type {first.action.value} as the employee", element_rationale="the name field",
                expected_outcome="the name is filled", thinking_steps=[f"{first.action.value} is in the goal"],
            )
        ],
        expected_seq=None,
    )  # fmt: skip
    report = evaluate(store, "expense", seeds=(1, 2), demo_id=demo_id, observe=True)
    assert all(r.success for r in report.results.values())

    items = list(instance_items(store, demo_ids=[demo_id]))
    assert len(items) == 2 * (len(demo.steps) + 1), "each step of each instance, and the FINISH at its end"
    for replayed in report.results.values():
        own = [i for i in items if i.stream == f"replay/{replayed.replay_id}"]
        goal = load_demo(store, demo_id).started.goal
        instance_goal = own[0].query.split("Goal: ", 1)[1].split("\n", 1)[0]
        assert instance_goal != goal, "the instance's goal, not the demo's"
        name = replayed.steps[1].value
        assert name and name != first.action.value
        for item in own:
            assert item.demo_id == demo_id and item.verified and item.task == "expense"
            assert f"Demonstration of: {instance_goal}" in item.teacher_query
            assert first.action.value not in item.context, "no value of the demonstrated instance is shown"
            assert f"Why: Type {name} as the employee" in item.context
            assert json.loads(item.schema)["anyOf"], "the page's constraint, as the agent decodes under"
        typed = resolve_values(parse_action(own[1].target).action, instance_goal)
        assert (typed.kind, typed.value) == ("TYPE", name)
        assert instance_demonstration(store, demo, instance_goal) == own[0].context, (
            "from the goal alone, the teacher reads what the observed replay showed it"
        )
        assert [i.context_source for i in own].count("enrichment") == 1


def test_training_examples_take_the_demo_and_its_instances_and_name_the_demo(store, sites_server, tiny_model) -> None:
    demo_id = record_demonstration(store, sites_server.url, "price", 0)
    evaluate(store, "price", seeds=(3,), demo_id=demo_id, observe=True)
    own = list(sdft_items(store, verified_only=False, demo_ids={demo_id}))
    examples = training_examples(store, demo_ids=[demo_id], verified_only=False, model=tiny_model)
    assert len(examples) == 2 * len(own)
    assert {e.demo_id for e in examples} == {demo_id}
    assert len({e.query for e in examples}) > len(own), "the instance's pages are new states"


def test_a_replay_finished_written_as_v1_reads_with_no_goal(store) -> None:
    from traj.eventlog import NewEvent

    old = {"replay_id": "p1", "demo_id": "d1", "success": True}
    store.append("replay/p1", [NewEvent.parse("replay.finished", old, v=1)], expected_seq=0)
    (event,) = store.events(stream="replay/p1")
    assert isinstance(event.data, ReplayFinishedV1) and event.data.goal == ""


def test_traj_eval_observe_replays_a_file_of_instances_that_then_teach(home: Path, site: str, tmp_path: Path) -> None:
    with Store.open(home, create=True) as store:
        demo_id = _order_demo(store, site)
    instances = tmp_path / "cases.jsonl"
    lines = [{"url": f"{site}/order.html?extra=2", "goal": "Send 4 to Di"}, {"url": f"{site}/nope.html", "goal": "x"}]
    instances.write_text("".join(json.dumps(line) + "\n" for line in lines))
    cli = CliRunner().invoke(app, ["eval", "order", "--instances", str(instances), "--observe", "--home", str(home)])
    assert cli.exit_code == 1, cli.output  # the second instance does not bind: it fails, the first still runs
    assert "1 observed instances will teach 'traj train' beside demo" in cli.stdout
    with Store.open(home) as store:
        items = [i for i in instance_items(store, demo_ids=[demo_id]) if "TYPE" in i.target]
    typed = [resolve_values(parse_action(i.target).action, "Send 4 to Di").value for i in items]
    assert typed == ["Di", "4"] and [json.loads(i.target)["value"] for i in items] == ["$2", "$1"]


def test_the_sdft_export_holds_the_instances_training_takes_and_stays_as_of_its_position(store, site) -> None:
    """`traj export sdft` is what `traj train` learns from: the demo's steps, then its observed
    instances; and the file at a log position is the same bytes after more instances arrive."""
    from traj.datasets import export_bytes, export_dataset

    demo_id = _order_demo(store, site)
    before = export_dataset(store, "sdft")
    assert {row["stream"] for row in before.table.to_pylist()} == {f"demo/{demo_id}"}
    with launch(headless=True) as session:
        first = replay_demo(
            store, demo_id, session.page, url=f"{site}/order.html?extra=2", goal="Send 4 to Di", observe=True
        )
        pinned = export_dataset(store, "sdft")
        replay_demo(store, demo_id, session.page, url=f"{site}/order.html?extra=1", goal="Send 9 to Ed", observe=True)
    rows = [row for row in pinned.table.to_pylist() if row["stream"] == f"replay/{first.replay_id}"]
    items = [i for i in instance_items(store) if i.stream == f"replay/{first.replay_id}"]
    assert len(rows) == len(items) == len(load_demo(store, demo_id).steps) + 1, "its steps and its FINISH"
    for row, item in zip(rows, items, strict=True):
        assert row["prompt"][0]["content"] == item.query and row["completion"][0]["content"] == item.target
        assert row["privileged_context"] == item.context and row["demo_id"] == demo_id and row["verified"]
    answers = [resolve_values(parse_action(row["completion"][0]["content"]).action, "Send 4 to Di") for row in rows]
    assert [a.value for a in answers if a.kind == "TYPE"] == ["Di", "4"], "that instance's values"
    again = export_dataset(store, "sdft", as_of=pinned.as_of)
    assert export_bytes(again, "jsonl") == export_bytes(pinned, "jsonl"), "the later instance is not in it"
    assert export_dataset(store, "sdft", as_of=before.as_of).table.num_rows == before.table.num_rows
    assert export_dataset(store, "sdft").table.num_rows == 3 * len(items)
