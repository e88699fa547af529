"""A goal's values are written as ``$N`` in everything a model reads and writes, and acted on as text."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traj.eventlog import Element
from traj.prompt import (
    AgentAction,
    HistoryEntry,
    ParseError,
    action_schema,
    build_prompt,
    goal_values,
    refer_values,
    render_demonstration,
    resolve_values,
)

_NAMES = st.sampled_from(["Maria Chen", "Jonas Weber", "Liam O'Brien", "Nora Haddad", "Ana Maria de Souza", "Di"])
_DATES = st.dates().map(lambda day: day.isoformat())
_AMOUNTS = st.integers(1, 10**7).map(lambda cents: f"{cents // 100}.{cents % 100:02d}")
_WORDS = st.sampled_from(["Software", "Training", "Travel", "Office Supplies"])
_NOTES = st.sampled_from(["Cloud storage upgrade", "Workshop on SQL", "Team lunch for 4 in Oslo", "Taxi", "a b"])


def _expense_goal(name: str, date: str, category: str, amount: str, note: str) -> str:
    return (
        f'Submit an expense report for {name}: date {date}, category {category}, amount {amount}, description "{note}".'
    )


_INSTANCES = st.tuples(_NAMES, _DATES, _WORDS, _AMOUNTS, _NOTES)


@given(_INSTANCES, _INSTANCES)
def test_goals_of_one_template_number_their_values_alike(shown: tuple[str, ...], other: tuple[str, ...]) -> None:
    """The demonstrated `$N` names the same field's value on every instance of the task."""
    first, second = _expense_goal(*shown), _expense_goal(*other)
    assert goal_values(first) == shown and goal_values(second) == other
    for number, value in enumerate(shown, start=1):
        demonstrated = refer_values(AgentAction("TYPE", "4", value).to_json(), first)
        assert json.loads(demonstrated)["value"] == f"${number}"
        assert resolve_values(AgentAction("TYPE", "4", f"${number}"), second).value == other[number - 1]


def test_values_are_numbered_by_where_they_start_without_overlaps_or_sentence_openers() -> None:
    goal = (
        "Find the cheapest flight from New York to Paris on Tuesday, March 4, 2025 (2025-03-04). Book it for $249.50."
    )
    assert goal_values(goal) == ("New York", "Paris", "Tuesday", "March 4", "2025", "2025-03-04", "249.50")
    assert goal_values('Reply "See you at 10:30" to Priya Raman.') == ("See you at 10:30", "Priya Raman")
    assert goal_values("read the page and say when you are done.") == ()
    assert goal_values("Change the email to ana.de.souza@example.com and the name to Ana de Souza.") == (
        "ana.de.souza@example.com",
        "Ana de Souza",
    )


def test_only_a_goal_value_is_referred_to_and_anything_else_stays_as_it_is() -> None:
    goal = "Send 4 to Di"
    assert (
        refer_values('{"kind":"TYPE","target":"2","value":"Di"}', goal) == '{"kind":"TYPE","target":"2","value":"$2"}'
    )
    for text in (
        '{"kind":"TYPE","target":"2","value":"Ed"}',  # not a value of this goal
        '{"kind":"CLICK","target":"4","value":null}',  # the id 4 is no value
        '{"kind":"TYPE","target":"2","value":{"secret":"PIN"}}',  # a secret's reference
        "CLICK [4] please",  # a model's raw answer in the history
        '{"kind":"FINISH","target":null,"value":"Di"}',  # an answer, a key or a URL is written as it is
    ):
        assert refer_values(text, goal) == text


def test_a_select_of_the_option_a_goal_value_begins_refers_to_that_value() -> None:
    goal = "File it under category Office supplies, amount 12.50, for Office Depot."
    assert goal_values(goal) == ("Office", "12.50", "Office Depot")  # a value is one run: `supplies` is not in it
    selected = '{"kind":"SELECT","target":"3","value":"Office supplies"}'
    assert json.loads(refer_values(selected, goal))["value"] == "$1"
    typed = '{"kind":"TYPE","target":"3","value":"Office supplies"}'
    assert refer_values(typed, goal) == typed  # typed text is the text: `$1` would type `Office`


def test_a_reference_past_the_goals_values_is_an_error_fed_back_not_an_action() -> None:
    with pytest.raises(ParseError, match=r"no goal value \$3: the goal states 2"):
        resolve_values(AgentAction("TYPE", "2", "$3"), "Send 4 to Di")
    with pytest.raises(ParseError, match="states none"):
        resolve_values(AgentAction("TYPE", "2", "$1"), "read the page")
    assert resolve_values(AgentAction("TYPE", "2", "Ed $1"), "Send 4 to Di").value == "Ed $1"  # text, not a reference


class _Page:
    url = "http://127.0.0.1/form"
    text = "Total: 4"
    elements: ClassVar[list[Element]] = [Element(agent_id="2", tag="input", role="textbox", name="Name")]


def test_the_prompt_lists_the_values_and_every_action_it_shows_refers_to_them() -> None:
    goal = "Send 4 to Di"
    demonstration = render_demonstration("Send 7 to Bo", ['{"kind":"TYPE","target":"2","value":"Bo"}'])
    history = [HistoryEntry('{"kind":"TYPE","target":"2","value":"4"}')]
    text = build_prompt(goal, _Page(), history, demonstration=demonstration).text
    assert "Goal: Send 4 to Di\nValues: $1 = 4; $2 = Di\n" in text
    assert 'Step 1: {"kind":"TYPE","target":"2","value":"$2"}' in text  # the demonstration, in its own goal's terms
    assert 'Step 1: {"kind":"TYPE","target":"2","value":"$1"}' in text  # the history
    assert "Values:" not in build_prompt("read the page", _Page()).text


def test_the_constraint_offers_a_goal_value_only_as_its_reference() -> None:
    schema = action_schema("Send 4 to Di", _Page.elements, _Page.text)
    typed = next(branch for branch in schema["anyOf"] if branch["properties"]["kind"]["const"] == "TYPE")
    offered = typed["properties"]["value"]["enum"]
    assert offered[:2] == ["$1", "$2"] and "Di" not in offered and "4" not in offered
    assert "Total: 4" in offered  # the page's phrases that are not the goal's stay text
