"""The agent loop in real Chromium on the bundled sites, recorded step by step in the store.

``ScriptedPolicy`` answers with given texts so each guard and failure path can be driven on a
real page; the model-backed runs use the tiny model through the real backends.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import serve_directory

from traj.agent import run_on_page
from traj.errors import PolicyError
from traj.eventlog import Secret
from traj.policy import Generation, Policy
from traj.projections import Projections
from traj.prompt import Prompt


class ScriptedPolicy:
    """Answers each prompt with the next scripted text (a model standing in for tests)."""

    backend = "scripted"
    model_id = "scripted"
    context_window = 4096
    adapters: tuple[str, ...] = ()
    active_adapter = None

    def __init__(self, answers: list[str | Exception]) -> None:
        self.answers = list(answers)
        self.prompts: list[Prompt] = []

    def count_tokens(self, text: str) -> int:
        return len(text) // 4

    def generate(self, prompt: Prompt, *, max_new_tokens: int = 64, temperature: float = 0.0) -> Generation:
        self.prompts.append(prompt)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return Generation(answer, prompt.tokens, len(answer) // 4, 0.001)

    def load_adapter(self, name: str, path: str | Path) -> None: ...
    def set_adapter(self, name: str | None) -> None: ...
    def unload_adapter(self, name: str) -> None: ...
    def close(self) -> None: ...


def _ids_by_name(page) -> dict[str, str]:
    from traj.browser import take_snapshot

    return {e.name: e.agent_id for e in take_snapshot(page, screenshot=False).elements if e.name}


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


def test_scripted_run_completes_the_search_task_and_every_step_is_in_the_store(store, page, sites_server):
    assert isinstance(ScriptedPolicy([]), Policy)
    url = f"{sites_server.url}/price/?seed=3&fast=1"
    page.goto(url)
    ids = _ids_by_name(page)
    goal = page.evaluate("window.traj.goal")
    params = page.evaluate("window.traj.params")
    field = next(v for k, v in ids.items() if "search" in k.lower() or "product" in k.lower())
    answers = [
        json.dumps({"kind": "CLICK", "target": "999", "value": None}),  # unknown element -> error in the history
        json.dumps({"kind": "TYPE", "target": field, "value": ""}),  # empty TYPE -> rejected
        "I think I should type something",  # no action -> parse error in the history
        json.dumps({"kind": "TYPE", "target": field, "value": next(iter(params.values()))}),
        json.dumps({"kind": "FINISH", "target": None, "value": "done"}),  # before submitting -> PRESS_ENTER
    ]
    policy = ScriptedPolicy(answers)
    result = run_on_page(store, policy, page, task="price", url=url, goal=goal, max_steps=5)
    outcomes = [s.outcome for s in result.steps]
    assert outcomes == ["rejected", "rejected", "rejected", "ok", "ok"]
    assert "unknown element 999" in result.steps[0].error
    assert result.steps[1].error == "TYPE needs a non-empty value"
    assert "no action" in result.steps[2].error
    assert result.steps[4].action.kind == "PRESS_ENTER"
    assert result.steps[4].guards == [f"finish_before_submit -> PRESS_ENTER [{field}]"]
    assert "-> error: unknown element 999" in policy.prompts[1].text  # fed back
    with Projections(store) as projections:
        run = projections.query("SELECT * FROM runs WHERE run_id = $id", {"id": result.run_id}).to_pylist()[0]
        steps = projections.query(
            "SELECT step, outcome, guards, raw_output, observe_ms, generate_ms, prompt_sha256 FROM run_steps "
            "WHERE run_id = $id ORDER BY step",
            {"id": result.run_id},
        ).to_pylist()
        decisions = projections.query(
            "SELECT step, kind, target, observation_id, screenshot FROM steps WHERE stream_id = $id ORDER BY step",
            {"id": result.run_id},
        ).to_pylist()
    assert run["task"] == "price" and run["backend"] == "scripted" and run["steps"] == 2
    assert run["reason"] == "reached max_steps (5)"
    assert [s["outcome"] for s in steps] == outcomes
    assert steps[2]["raw_output"] == answers[2]
    assert all(s["observe_ms"] > 0 and len(s["prompt_sha256"]) == 64 for s in steps)
    assert [(d["step"], d["kind"]) for d in decisions] == [(3, "TYPE"), (4, "PRESS_ENTER")]
    assert all(d["observation_id"] and d["screenshot"] for d in decisions)


def test_repeated_identical_failures_stop_the_run(store, page, sites_server):
    url = f"{sites_server.url}/expense/?seed=1"
    bad = json.dumps({"kind": "CLICK", "target": "424242", "value": None})
    result = run_on_page(store, ScriptedPolicy([bad, bad, bad]), page, task="expense", url=url, max_steps=10)
    assert [s.outcome for s in result.steps] == ["rejected", "stopped"]
    assert result.reason.startswith("the same action failed 2 times in a row")
    assert result.success is False


def test_a_backend_failure_ends_the_run_with_the_reason(store, page, sites_server):
    url = f"{sites_server.url}/expense/?seed=1"
    policy = ScriptedPolicy([PolicyError("the server answered 503")])
    result = run_on_page(store, policy, page, task="expense", url=url, max_steps=3)
    assert result.reason == "policy failed: the server answered 503"
    assert [s.outcome for s in result.steps] == ["stopped"]


def test_finish_records_the_answer_and_the_site_verdict(store, page, sites_server):
    url = f"{sites_server.url}/expense/?seed=1"
    policy = ScriptedPolicy(['{"kind": "FINISH", "target": null, "value": "nothing to do"}'])
    result = run_on_page(store, policy, page, task="expense", url=url)
    assert result.finished and result.answer == "nothing to do"
    assert result.success is False  # the expense form was never submitted: the site says so


def test_press_enter_waits_for_the_page_load(store, page, sites_server):
    url = f"{sites_server.url}/flights/jetdeal/?seed=1"
    page.goto(url)
    ids = _ids_by_name(page)
    date_field = ids["Date (YYYY-MM-DD)"]
    answers = [
        json.dumps({"kind": "SELECT", "target": ids["Flying from"], "value": "Vienna"}),
        json.dumps({"kind": "SELECT", "target": ids["Flying to"], "value": "Madrid"}),
        json.dumps({"kind": "TYPE", "target": date_field, "value": "2025-10-19"}),
        json.dumps({"kind": "PRESS_ENTER", "target": date_field, "value": None}),
        json.dumps({"kind": "FINISH", "target": None, "value": None}),
    ]
    policy = ScriptedPolicy(answers)
    run_on_page(store, policy, page, task="flights", url=url, goal="search deals")
    assert "date=2025-10-19" in policy.prompts[4].text.split("URL: ", 1)[1].splitlines()[0]
    assert "4 deals from Vienna to Madrid" in policy.prompts[4].text
    with Projections(store) as projections:
        timings = projections.query("SELECT step, execute_ms, page_wait_ms FROM run_steps ORDER BY step").to_pylist()
    # only PRESS_ENTER started a navigation: its load is the site's time, apart from execute
    assert [row["page_wait_ms"] > 0 for row in timings] == [False, False, False, True, False]
    assert all(row["execute_ms"] >= 0 for row in timings)


_SIGN_IN = """<!doctype html><title>Sign in</title>
<label>Password <input id="pw" type="password"></label>
<label><input type="checkbox" id="stay"> Stay signed in</label>
<ol id="steps"><li draggable="true">Cook</li><li draggable="true">Buy</li></ol>
<script>
let held = null;
const list = document.getElementById("steps");
list.addEventListener("dragstart", (e) => { held = e.target; e.dataTransfer.setData("text/plain", "x"); });
list.addEventListener("dragover", (e) => e.preventDefault());
list.addEventListener("drop", (e) => { e.preventDefault(); e.target.closest("li").after(held); });
window.traj = {task: "signin", goal: "Sign in and put Buy first", check: () => ({success:
  document.getElementById("pw").value === "pa55-Word!x" && document.getElementById("stay").checked &&
  list.textContent.replace(/\\s/g, "") === "BuyCook"})};
</script>"""


def _sign_in_answers(page, url: str) -> list[str]:
    from traj.browser import take_snapshot

    page.goto(url)
    elements = take_snapshot(page, screenshot=False).elements
    pw, stay = (next(e.agent_id for e in elements if e.name == name) for name in ("Password", "Stay signed in"))
    cook, buy = (e.agent_id for e in elements if e.tag == "li")
    return [
        f'{{"kind": "TYPE", "target": "{pw}", "value": {{"secret": "site_password"}}}}',
        f"PRESS [{stay}] Space",
        f"DRAG [{cook}] to [{buy}]",
        '{"kind": "FINISH"}',
    ]


def test_the_agent_presses_drags_and_types_a_secret_storing_only_its_name(store, page, tmp_path, monkeypatch):
    monkeypatch.setenv("TRAJ_SECRET_SITE_PASSWORD", "pa55-Word!x")
    with serve_directory(tmp_path, {"signin.html": _SIGN_IN}) as url:
        policy = ScriptedPolicy(_sign_in_answers(page, f"{url}/signin.html"))
        result = run_on_page(store, policy, page, task="signin", url=f"{url}/signin.html", max_steps=6)
    assert [s.outcome for s in result.steps] == ["ok", "ok", "ok", "finished"]
    assert result.success is True
    kinds = [(e.data.kind, e.data.value) for e in store.events() if e.type == "action"]
    assert [kind for kind, _ in kinds] == ["TYPE", "PRESS", "DRAG", "FINISH"]
    assert kinds[0][1] == Secret("site_password") and kinds[1][1] == "Space"
    assert b"pa55-Word!x" not in b"".join(p.read_bytes() for p in store.home.rglob("*") if p.is_file())
    assert '"value":{"secret":"site_password"}' in policy.prompts[1].text  # the history shows the name


def test_a_missing_secret_stops_the_run_saying_which(store, page, tmp_path, monkeypatch):
    monkeypatch.delenv("TRAJ_SECRET_SITE_PASSWORD", raising=False)
    with serve_directory(tmp_path, {"signin.html": _SIGN_IN}) as url:
        policy = ScriptedPolicy(_sign_in_answers(page, f"{url}/signin.html"))
        result = run_on_page(store, policy, page, task="signin", url=f"{url}/signin.html", max_steps=6)
    assert [s.outcome for s in result.steps] == ["stopped"]
    assert result.reason == "secret 'site_password' is not set: export TRAJ_SECRET_SITE_PASSWORD=... and run again"


def test_tiny_model_through_transformers_runs_to_finish_or_max_steps(store, page, sites_server, tiny_model):
    from traj.policy import TransformersPolicy

    policy = TransformersPolicy(tiny_model)
    url = f"{sites_server.url}/expense/?seed=4"
    result = run_on_page(store, policy, page, task="expense", url=url, max_steps=6)
    assert result.finished or len(result.steps) == 6 or result.steps[-1].outcome == "stopped"
    parsed = [s for s in result.steps if s.action is not None]
    assert parsed, "the tiny model produced no parsable action at all"
    with Projections(store) as projections:
        rows = projections.query(
            "SELECT count(*) AS n FROM run_steps WHERE run_id = $id", {"id": result.run_id}
        ).to_pylist()
    assert rows[0]["n"] == len(result.steps)


def test_a_goal_value_written_as_its_reference_is_typed_as_its_text(store, page, sites_server):
    """The model writes `$N`; the page gets, and the log keeps, the goal's text; the prompt shows `$N`."""
    url = f"{sites_server.url}/expense/?seed=4"
    page.goto(url)
    goal = page.evaluate("window.traj.goal")
    name = page.evaluate("window.traj.params")["employee"]
    field = next(agent_id for label, agent_id in _ids_by_name(page).items() if "name" in label.lower())
    answers = [
        json.dumps({"kind": "TYPE", "target": field, "value": "$9"}),  # past the goal's values
        json.dumps({"kind": "TYPE", "target": field, "value": "$1"}),
        json.dumps({"kind": "WAIT", "target": None, "value": None}),
    ]
    policy = ScriptedPolicy(answers)
    result = run_on_page(store, policy, page, task="expense", url=url, goal=goal, max_steps=3)
    assert [s.outcome for s in result.steps] == ["rejected", "ok", "ok"]
    assert result.steps[0].error == "no goal value $9: the goal states 5"
    assert result.steps[1].action.value == name and page.input_value(f"[data-agent-id='{field}']") == name
    assert f"Values: $1 = {name}; " in policy.prompts[0].text
    assert f'Step 2: {{"kind":"TYPE","target":"{field}","value":"$1"}}' in policy.prompts[2].text
    with Projections(store) as projections:
        typed = projections.query(
            "SELECT value FROM steps WHERE stream_id = $id AND kind = 'TYPE'", {"id": result.run_id}
        ).to_pylist()
    assert typed == [{"value": name}]
