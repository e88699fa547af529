"""Constrained action decoding: whatever the weights, the model writes an action valid on the page.

The strongest case is a model that knows nothing: a randomly initialised tiny model, sampled at
temperature 1, must still produce only valid actions on random pages (transformers and MLX,
the same llguidance matcher), and the agent on the real bundled sites never has a step rejected.
"""

from __future__ import annotations

import dataclasses
import math
import random

import msgspec
import pytest

from tests.constrained_pages import Page, check_valid, random_page
from traj.agent import run_on_page
from traj.errors import PolicyError
from traj.eventlog import Element
from traj.policy import Completion, MlxPolicy, TransformersPolicy
from traj.prompt import (
    MAX_FREE_TEXT,
    ParseError,
    action_response_format,
    action_schema,
    action_token_bound,
    build_prompt,
    goal_values,
    parse_action,
    value_phrases,
)
from traj.sites import SITES

EXPENSE_GOAL = (
    "Submit an expense report for Nora Haddad: date 2025-03-25, category Software, amount 442.24, "
    'description "Cloud storage upgrade".'
)


def _branches(schema: dict) -> dict[str, list[dict]]:
    by_kind: dict[str, list[dict]] = {}
    for branch in schema["anyOf"]:
        by_kind.setdefault(branch["properties"]["kind"]["const"], []).append(branch["properties"])
    return by_kind


def _completion(page: Page, seed: int) -> Completion:
    schema = action_schema(page.goal, page.elements, page.text)
    prompt = build_prompt(page.goal, page)
    return Completion(
        ({"role": "user", "content": prompt.text},),
        max_new_tokens=action_token_bound(schema) + 1,
        temperature=1.0,
        seed=seed,
        response_format=action_response_format(schema),
    )


# ---------------------------------------------------------------------------- the schema (pure)


def test_the_schema_offers_each_kind_only_the_elements_and_values_it_takes():
    elements = [
        Element(agent_id="1", tag="input", role="textbox", name="Employee name"),
        Element(agent_id="2", tag="select", role="combobox", name="Category"),
        Element(agent_id="3", tag="textarea", role="textbox", name="Description"),
        Element(agent_id="4", tag="button", role="button", name="Submit report"),
        Element(agent_id="5", tag="input", role="textbox", name="Hidden", visible=False),
        Element(agent_id="6", tag="input", role="checkbox", name="Urgent", attrs={"type": "checkbox"}),
    ]
    by_kind = _branches(action_schema(EXPENSE_GOAL, elements))
    assert by_kind["CLICK"][0]["target"] == {"enum": ["1", "2", "3", "4", "6"]}  # never the hidden one
    typed, prose = by_kind["TYPE"]
    assert typed["target"] == {"enum": ["1"]} and prose["target"] == {"enum": ["3"]}
    phrases = typed["value"]["enum"]
    stated = ["Nora Haddad", "2025-03-25", "Software", "442.24", "Cloud storage upgrade"]
    assert list(goal_values(EXPENSE_GOAL)) == stated
    assert phrases[:5] == ["$1", "$2", "$3", "$4", "$5"] and not set(stated) & set(phrases)  # each as its $N
    assert {"Cloud", "Nora", "Haddad"} <= set(phrases)  # the goal's other phrases as text
    assert prose["value"]["anyOf"][0] == typed["value"] and prose["value"]["anyOf"][1]["type"] == "string"
    assert by_kind["SELECT"][0]["target"] == {"enum": ["2"]} and by_kind["SELECT"][0]["value"]["enum"] == phrases
    assert "NAVIGATE" not in by_kind  # no link and no URL in the goal: nowhere to go


def test_navigate_goes_only_to_the_pages_links_and_the_goals_urls():
    elements = [Element(agent_id="1", tag="a", role="link", name="Mail", attrs={"href": "/inbox/?seed=1"})]
    by_kind = _branches(action_schema("Open https://example.com/docs, then read it.", elements))
    assert by_kind["NAVIGATE"][0]["value"] == {"enum": ["https://example.com/docs", "/inbox/?seed=1"]}
    assert "TYPE" not in by_kind and "SELECT" not in by_kind  # nothing here takes text


def test_a_links_target_is_offered_as_the_browser_resolves_it_on_the_page():
    # The recorder writes down where a navigation went (absolute), so that is what the agent may say.
    elements = [
        Element(agent_id="1", tag="a", role="link", name="Calendar", attrs={"href": "/calendar/?seed=3"}),
        Element(agent_id="2", tag="a", role="link", name="Next", attrs={"href": "page2.html"}),
        Element(agent_id="3", tag="a", role="link", name="Docs", attrs={"href": "https://docs.example.org/"}),
    ]
    by_kind = _branches(action_schema("Add the meeting.", elements, url="http://127.0.0.1:8000/inbox/?seed=3"))
    assert by_kind["NAVIGATE"][0]["value"] == {
        "enum": [
            "http://127.0.0.1:8000/calendar/?seed=3",
            "http://127.0.0.1:8000/inbox/page2.html",
            "https://docs.example.org/",
        ]
    }


def test_value_phrases_come_from_the_goal_first_then_the_page():
    phrases = value_phrases('Reply "See you at 10:30" to Priya Raman.', "Invitation: Quarterly roadmap sync\nThu 14:00")
    assert phrases[:2] == ["See you at 10:30", "10:30"]
    assert {"Priya Raman", "Invitation: Quarterly roadmap sync", "Thu 14:00", "14:00"} <= set(phrases)
    assert phrases.index("Priya Raman") < phrases.index("Quarterly")


def test_the_token_bound_covers_the_longest_valid_action():
    elements = [Element(agent_id="12", tag="textarea", role="textbox", name="Note")]
    schema = action_schema("Say hi.", elements)
    typed = '{"kind":"TYPE","target":"12","value":"' + "\U0001f600" * MAX_FREE_TEXT + '"}'
    answered = '{"kind":"FINISH","target":null,"value":"' + "\U0001f600" * MAX_FREE_TEXT + '"}'
    assert action_token_bound(schema) >= len(typed.encode())
    assert action_token_bound(schema) == len(answered.encode())  # FINISH's answer is the longest: exact


# ---------------------------------------------------------------------------- token masking, every backend


@pytest.fixture(scope="module")
def transformers_policy(model_dir):
    policy = TransformersPolicy(model_dir)
    yield policy
    policy.close()


@pytest.fixture(scope="module")
def mlx_policy(model_dir):
    policy = MlxPolicy(model_dir)
    yield policy
    policy.close()


def test_an_untrained_model_writes_only_valid_actions_through_transformers(transformers_policy):
    rng = random.Random(0)
    kinds = set()
    for seed in range(10):
        page = random_page(rng)
        generation = transformers_policy.complete(_completion(page, seed))
        check_valid(generation.text, page)
        kinds.add(parse_action(generation.text).action.kind)
    assert len(kinds) >= 4, kinds  # sampling, not one memorised answer


def test_an_untrained_model_writes_only_valid_actions_through_mlx(mlx_policy):
    rng = random.Random(1)
    for seed in range(6):
        page = random_page(rng)
        check_valid(mlx_policy.complete(_completion(page, seed)).text, page)


def test_without_the_constraint_the_same_model_writes_no_action(transformers_policy):
    page = random_page(random.Random(0))
    unconstrained = Completion(_completion(page, 0).messages, max_new_tokens=40, temperature=1.0, seed=0)
    with pytest.raises((AssertionError, msgspec.DecodeError, ParseError)):
        check_valid(transformers_policy.complete(unconstrained).text, page)


def test_constrained_probabilities_are_renormalised_over_the_allowed_tokens(transformers_policy):
    page = random_page(random.Random(3))
    vocab = int(transformers_policy.base.config.vocab_size)
    first = dataclasses.replace(_completion(page, 0), max_new_tokens=1, top_logprobs=vocab)
    alternatives = transformers_policy.complete(first).top_logprobs[0]
    allowed = [(text, logprob) for text, logprob in alternatives if logprob > float("-inf")]
    assert 0 < len(allowed) < vocab
    assert all(text.startswith("{") for text, _ in allowed)  # a JSON object starts there, nothing else
    assert sum(math.exp(logprob) for _, logprob in allowed) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    "response_format, message",
    [
        ({"type": "xml"}, "response_format type 'xml' is not text, json_object or json_schema"),
        ({"type": "json_schema", "json_schema": {"name": "x"}}, "json_schema needs json_schema.schema"),
        ({"type": "json_schema", "json_schema": {"schema": {"type": "frobnicate"}}}, "cannot compile"),
    ],
)
def test_a_bad_response_format_is_a_one_line_policy_error(transformers_policy, response_format, message):
    completion = Completion(({"role": "user", "content": "hi"},), max_new_tokens=4, response_format=response_format)
    with pytest.raises(PolicyError, match=message) as refused:
        transformers_policy.complete(completion)
    assert "\n" not in str(refused.value)


# ---------------------------------------------------------------------------- the agent on the bundled sites


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("task", ["expense", "calendar", "cross_app"])
def test_the_constrained_agent_never_has_a_step_rejected(store, page, sites_server, transformers_policy, task):
    url = SITES[task].start_url(sites_server.url, 2)
    result = run_on_page(store, transformers_policy, page, task=task, url=url, max_steps=3)
    assert result.steps
    for step in result.steps:
        assert step.outcome != "rejected" and step.action is not None, (step.raw_output, step.error)
        assert parse_action(step.raw_output).method == "json"
    assert _recorded_constrained(store, result.run_id) is True


def test_without_the_constraint_the_untrained_agent_is_rejected(store, page, sites_server, transformers_policy):
    url = SITES["expense"].start_url(sites_server.url, 2)
    result = run_on_page(store, transformers_policy, page, task="expense", url=url, max_steps=2, constrain=False)
    assert result.steps[0].outcome == "rejected"
    assert _recorded_constrained(store, result.run_id) is False


def _recorded_constrained(store, run_id: str) -> bool | None:
    """What the run's ``run.started`` says about the constraint (and the ``runs`` view with it)."""
    from traj.projections import Projections

    started = store.events(stream=f"run/{run_id}")[0]
    with Projections(store) as projections:
        rows = projections.query("SELECT constrained FROM runs WHERE run_id = $id", {"id": run_id}).to_pylist()
    assert rows == [{"constrained": started.data.constrained}]
    return started.data.constrained
