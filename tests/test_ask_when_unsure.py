"""Correction in the loop: an unsure agent hands the step to the person at the browser, then goes on.

The agent runs in real Chromium on the bundled price site. Its policy states how sure it was of
each choice through per-token probabilities, as every real backend does; the person is a script
acting on the same page with Playwright when asked. The person's action becomes the step, a
correction in the log, and (wrong, bad) + (corrected, good) rows in the exports.
"""

from __future__ import annotations

import json
import math

import pytest
from conftest import serve_directory
from test_agent_run import ScriptedPolicy

from traj.agent import AskWhenUnsure, choice_confidence, run_on_page
from traj.browser import take_snapshot
from traj.datasets import export_dataset
from traj.errors import TrajError
from traj.eventlog import Secret
from traj.policy import Generation, TransformersPolicy
from traj.projections import Projections
from traj.prompt import AgentAction, Prompt, build_prompt, refer_values

NOTE = "Check the warranty first"
BUDGET = ScriptedPolicy.context_window - 64


class SurePolicy(ScriptedPolicy):
    """Answers ``(kind, target, value, p)``: the element id's token has probability ``p``."""

    backend = "scripted-logprobs"

    def __init__(self, answers: list[tuple[str, str | None, str | None, float]]) -> None:
        super().__init__([])
        self.choices = list(answers)

    def generate(self, prompt: Prompt, *, max_new_tokens: int = 64, temperature: float = 0.0) -> Generation:
        self.prompts.append(prompt)
        kind, target, value, p = self.choices.pop(0)
        chosen = json.dumps(target)
        pieces = ['{"kind": "', kind, '", "target": ', chosen, ', "value": ', json.dumps(value), "}"]
        logprobs = [-0.01, -0.02, -0.01, math.log(p), -0.01, -0.03, -0.01]
        text = "".join(pieces)
        return Generation(text, prompt.tokens, len(pieces), 0.001, logprobs, pieces)


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


def _person_types_the_note(page, asked: list[str]):
    """The person: reads the question, types the note into field 3 and leaves it with Tab."""

    def act(unsure) -> None:
        asked.append(unsure.message)
        page.fill('[data-agent-id="3"]', NOTE)
        page.press('[data-agent-id="3"]', "Tab")

    return act


def test_an_unsure_step_is_done_by_the_person_recorded_as_a_correction_and_the_run_goes_on(store, page, sites_server):
    url = f"{sites_server.url}/price/?seed=3&fast=1"
    policy = SurePolicy([("CLICK", "2", None, 0.31), ("CLICK", "4", None, 0.93)])
    asked: list[str] = []
    warned: list[str] = []
    ask = AskWhenUnsure(0.5, 20.0, ask=_person_types_the_note(page, asked), warn=warned.append)
    result = run_on_page(store, policy, page, task="price", url=url, max_steps=2, ask_when_unsure=ask)

    assert asked and asked[0].startswith("the agent is unsure at step 0 (p=0.31 < 0.5): do this step in the browser")
    assert len(asked) == 1 and warned == []  # step 1 was sure of itself
    first, second = result.steps
    assert (first.outcome, first.action, first.confidence) == (
        "corrected",
        AgentAction("CLICK", "2"),
        pytest.approx(0.31),
    )
    assert first.demonstrated == AgentAction("TYPE", "3", NOTE)
    assert (second.outcome, second.action) == ("ok", AgentAction("CLICK", "4"))  # the run went on after the person
    assert page.input_value('[data-agent-id="3"]') == NOTE  # what the person typed stayed on the page
    # The agent's next prompt lists the person's action as the step taken (the note as the goal's $N).
    taught = refer_values(AgentAction("TYPE", "3", NOTE).to_json(), page.evaluate("window.traj.goal"))
    assert f"Step 1: {taught} -> done by a person" in policy.prompts[1].text and '"value":"$' in taught

    stream = f"run/{result.run_id}"
    with Projections(store) as projections:
        feedback = projections.query("SELECT target, step, label, CAST(correction AS VARCHAR) AS c FROM feedback")
        actions = projections.query(
            "SELECT step, kind, target, value FROM actions WHERE stream = $s ORDER BY step", {"s": stream}
        ).to_pylist()
        steps = projections.query(
            "SELECT step, outcome, CAST(action AS VARCHAR) AS action, confidence FROM run_steps "
            "WHERE stream = $s ORDER BY step",
            {"s": stream},
        ).to_pylist()
        [legacy] = projections.query("SELECT CAST(rejected AS VARCHAR) AS r FROM preference_pairs").to_pylist()
    assert legacy["r"] == '{"kind":"CLICK","target":"2","value":null}'  # the agent's choice, not the person's
    assert feedback.to_pylist() == [
        {"target": stream, "step": 0, "label": "bad", "c": AgentAction("TYPE", "3", NOTE).to_json()}
    ]
    # What happened on the page: the person's TYPE, then the agent's click.
    assert actions == [
        {"step": 0, "kind": "TYPE", "target": "3", "value": NOTE},
        {"step": 1, "kind": "CLICK", "target": "4", "value": None},
    ]
    assert [(s["step"], s["outcome"], json.loads(s["action"])["target"]) for s in steps] == [
        (0, "corrected", "2"),
        (1, "ok", "4"),
    ]
    assert steps[0]["confidence"] == pytest.approx(0.31) and steps[1]["confidence"] == pytest.approx(0.93)

    rows = export_dataset(store, "from_feedback", budget_tokens=BUDGET, count_tokens=policy.count_tokens)
    got = [
        (r["step"], r["origin"], r["label"], r["output"]["action"], r["output"]["selectorOrRef"])
        for r in rows.table.to_pylist()
    ]
    assert got == [(0, "step_feedback", "bad", "CLICK", "2"), (0, "correction", "good", "TYPE", "3")]
    assert all(r["prompt"] == [{"role": "user", "content": policy.prompts[0].text}] for r in rows.table.to_pylist())
    [pair] = export_dataset(
        store, "preference", budget_tokens=BUDGET, count_tokens=policy.count_tokens
    ).table.to_pylist()
    assert (pair["chosen"][0]["content"], pair["rejected"][0]["content"]) == (
        taught,
        AgentAction("CLICK", "2").to_json(),
    )
    # The exports' prompts for later steps read the history as the agent did.
    sliced = export_dataset(
        store, "from_runs", per_decision=True, budget_tokens=BUDGET, count_tokens=policy.count_tokens
    )
    assert [r["prompt"][0]["content"] for r in sliced.table.to_pylist()] == [p.text for p in policy.prompts]


def test_nobody_acting_in_time_lets_the_agent_do_its_own_step(store, page, sites_server):
    url = f"{sites_server.url}/price/?seed=3&fast=1"
    asked: list[str] = []
    warned: list[str] = []
    ask = AskWhenUnsure(0.5, 0.3, ask=lambda unsure: asked.append(unsure.message), warn=warned.append)
    policy = SurePolicy([("TYPE", "3", NOTE, 0.2)])
    result = run_on_page(store, policy, page, task="price", url=url, max_steps=1, ask_when_unsure=ask)
    assert len(asked) == 1 and warned == [
        f"nobody acted within 0.3 s at step 0: the agent does {AgentAction('TYPE', '3', NOTE).to_json()}"
    ]
    assert result.steps[0].outcome == "ok" and result.steps[0].demonstrated is None
    assert page.input_value('[data-agent-id="3"]') == NOTE
    with Projections(store) as projections:
        assert projections.query("SELECT count(*) AS n FROM feedback").to_pylist() == [{"n": 0}]


def test_a_password_the_person_types_for_the_agent_is_stored_by_name(store, page, tmp_path):
    password = "hand-0ver-Pa55"
    form = '<label>Password <input id="pw" type="password" name="pin"></label><button>Go</button>'
    with serve_directory(tmp_path, {"pin.html": form}) as url:
        page.goto(f"{url}/pin.html")
        pw = next(e.agent_id for e in take_snapshot(page, screenshot=False).elements if e.name == "Password")

        def person(unsure) -> None:
            page.fill("#pw", password)
            page.press("#pw", "Tab")

        ask = AskWhenUnsure(0.5, 20.0, ask=person, warn=pytest.fail)
        policy = SurePolicy([("TYPE", pw, "1234", 0.2)])
        result = run_on_page(
            store, policy, page, task="pin", url=f"{url}/pin.html", goal="Sign in", max_steps=1, ask_when_unsure=ask
        )
    assert result.steps[0].outcome == "corrected"
    assert result.steps[0].demonstrated == AgentAction("TYPE", pw, Secret("pin"))
    assert [e.data.value for e in store.events() if e.type == "action"] == [Secret("pin")]
    assert password.encode() not in b"".join(p.read_bytes() for p in store.home.rglob("*") if p.is_file())


def test_the_agents_own_clicks_between_asks_are_not_taken_for_the_persons(store, page, sites_server):
    """After a hand-over the recorder stays in the page, paused: the next ask hears only the person."""
    url = f"{sites_server.url}/price/?seed=3&fast=1"
    asked: list[str] = []

    def person(unsure) -> None:
        asked.append(unsure.message)
        if unsure.step == 2:
            page.click('[data-agent-id="4"]')
        else:
            page.fill('[data-agent-id="3"]', NOTE)
            page.press('[data-agent-id="3"]', "Tab")

    policy = SurePolicy([("CLICK", "2", None, 0.1), ("TYPE", "3", "x", 0.99), ("CLICK", "2", None, 0.1)])
    ask = AskWhenUnsure(0.5, 20.0, ask=person, warn=pytest.fail)
    result = run_on_page(store, policy, page, task="price", url=url, max_steps=3, ask_when_unsure=ask)
    assert [s.outcome for s in result.steps] == ["corrected", "ok", "corrected"]
    assert [s.demonstrated for s in result.steps] == [
        AgentAction("TYPE", "3", NOTE),
        None,
        AgentAction("CLICK", "4"),  # not the agent's TYPE of step 1
    ]


def test_a_backend_without_token_probabilities_says_it_cannot_ask(store, page, sites_server):
    url = f"{sites_server.url}/price/?seed=3&fast=1"
    asked: list[str] = []
    warned: list[str] = []
    ask = AskWhenUnsure(0.9, 1.0, ask=lambda unsure: asked.append(unsure.message), warn=warned.append)
    answers = [json.dumps({"kind": "CLICK", "target": "2", "value": None})] * 2
    result = run_on_page(store, ScriptedPolicy(answers), page, task="price", url=url, max_steps=2, ask_when_unsure=ask)
    assert asked == [] and [s.confidence for s in result.steps] == [None, None]
    assert warned == [
        "--ask-when-unsure: the scripted backend reports no token probabilities (scripted), "
        "so the agent cannot tell when it is unsure and will not ask"
    ]  # once, not per step


def test_the_threshold_is_a_probability():
    with pytest.raises(TrajError, match="probability"):
        AskWhenUnsure(1.5)
    with pytest.raises(TrajError, match="positive"):
        AskWhenUnsure(0.5, 0)


def test_transformers_confidence_is_the_probability_of_the_element_ids_tokens(page, sites_server, tiny_model):
    """On the tiny model: the recorded confidence equals the id tokens' probabilities, recomputed by hand."""
    import torch

    from traj.agent import choice_span
    from traj.prompt import chat_text, parse_action
    from traj.sites import SITES

    page.goto(SITES["calendar"].start_url(sites_server.url, 3) + "&fast=1")  # the tiny model clicks here
    snapshot = take_snapshot(page, screenshot=False)
    policy = TransformersPolicy(tiny_model)
    goal = page.evaluate("window.traj.goal")
    prompt = build_prompt(goal, snapshot, [], budget_tokens=1500, count_tokens=policy.count_tokens)
    generation = policy.generate(prompt, max_new_tokens=40)
    action = parse_action(generation.text).action
    assert action.target is not None, generation.text
    assert "".join(generation.token_texts).startswith(generation.text)
    assert len(generation.token_texts) == len(generation.token_logprobs)
    confidence = choice_confidence(generation, action)
    assert confidence is not None and 0.0 < confidence <= 1.0

    # By hand: one forward pass over prompt + answer, the softmax at each token of the id.
    tokenizer = policy.tokenizer
    prompt_ids = tokenizer(chat_text(tokenizer, prompt.text), add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(generation.text, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = policy.base(input_ids=torch.tensor([prompt_ids + answer_ids])).logits[0].float()
    start, end = choice_span(generation.text, action)
    offset, total, id_tokens = 0, 0.0, 0
    for index, token in enumerate(answer_ids):
        piece = tokenizer.decode(answer_ids[: index + 1])[offset:]
        if offset < end and offset + len(piece) > start:
            total += float(torch.log_softmax(logits[len(prompt_ids) + index - 1], -1)[token])
            id_tokens += 1
        offset += len(piece)
    assert id_tokens >= 1 and generation.text[start:end] == action.target
    assert confidence == pytest.approx(math.exp(total), rel=1e-4)
    print(f"tiny model: {generation.text!r}; p(element {action.target}, {id_tokens} tokens) = {confidence:.4f}")


def test_every_backend_reports_the_same_confidence_for_the_same_answer(page, sites_server, tiny_model):
    """mlx, and transformers behind traj's server through the remote and openai backends, agree with it."""
    from traj.policy import MlxPolicy, OpenAIPolicy, RemotePolicy
    from traj.prompt import parse_action
    from traj.serve import create_app, serve_in_thread
    from traj.sites import SITES

    page.goto(SITES["calendar"].start_url(sites_server.url, 3) + "&fast=1")
    local_policy = TransformersPolicy(tiny_model)
    goal = page.evaluate("window.traj.goal")
    snapshot = take_snapshot(page, screenshot=False)
    prompt = build_prompt(goal, snapshot, [], budget_tokens=1500, count_tokens=local_policy.count_tokens)
    local = local_policy.generate(prompt, max_new_tokens=40)
    action = parse_action(local.text).action
    expected = choice_confidence(local, action)
    assert action.target is not None and expected is not None
    answers = {"mlx": MlxPolicy(tiny_model).generate(prompt, max_new_tokens=40)}
    with serve_in_thread(create_app(local_policy)) as url:
        answers["remote"] = RemotePolicy(url).generate(prompt, max_new_tokens=40)
        served = OpenAIPolicy(tiny_model.name, base_url=f"{url}/v1")  # traj serves it by its directory name
        answers["openai"] = served.generate(prompt, max_new_tokens=40)
    for backend, generation in answers.items():
        assert generation.text == local.text, backend
        assert choice_confidence(generation, action) == pytest.approx(expected, rel=1e-3), backend
