"""Each guard rule, on its own and inside the runtime loop on a real page."""

from __future__ import annotations

from traj.agent import GuardState, apply_guards
from traj.eventlog import Element, Secret
from traj.prompt import AgentAction

PAGE = [
    Element(agent_id="1", tag="input", role="searchbox", name="Search products"),
    Element(agent_id="2", tag="button", role="button", name="Go"),
    Element(agent_id="3", tag="input", role="textbox", name="Full name"),
]


def _state() -> GuardState:
    state = GuardState()
    state.observe(PAGE)
    return state


def test_finish_after_an_unsubmitted_search_becomes_press_enter():
    state = _state()
    typed = AgentAction("TYPE", "1", "red shoes")
    assert apply_guards(typed, PAGE, state).action == typed
    state.record(typed.to_json(), typed, failed=False)
    guarded = apply_guards(AgentAction("FINISH", None, "found"), PAGE, state)
    assert guarded.action == AgentAction("PRESS_ENTER", "1")
    assert guarded.interventions == ["finish_before_submit -> PRESS_ENTER [1]"]


def test_finish_after_the_search_was_submitted_stays_finish():
    state = _state()
    for action in (AgentAction("TYPE", "1", "red shoes"), AgentAction("PRESS_ENTER", "1")):
        state.record(action.to_json(), action, failed=False)
    assert apply_guards(AgentAction("FINISH"), PAGE, state).action == AgentAction("FINISH")


def test_typing_into_a_field_that_is_not_a_search_does_not_arm_the_guard():
    state = _state()
    typed = AgentAction("TYPE", "3", "Nora")
    state.record(typed.to_json(), typed, failed=False)
    assert apply_guards(AgentAction("FINISH"), PAGE, state).action == AgentAction("FINISH")


def test_type_with_an_empty_value_is_rejected():
    for value in (None, "", "   "):
        guarded = apply_guards(AgentAction("TYPE", "3", value), PAGE, _state())
        assert guarded.action is None
        assert guarded.error == "TYPE needs a non-empty value"


def test_an_unknown_element_is_rejected_with_an_error_for_the_history():
    guarded = apply_guards(AgentAction("CLICK", "99"), PAGE, _state())
    assert guarded.action is None
    assert "unknown element 99" in guarded.error


def test_identical_failures_in_a_row_stop_but_a_success_in_between_resets():
    state = _state()
    state.record("A", None, failed=True)
    assert state.stop_reason is None
    state.record("B", None, failed=True)
    state.record("A", None, failed=True)
    assert state.stop_reason is None  # not in a row
    ok = AgentAction("CLICK", "2")
    state.record(ok.to_json(), ok, failed=False)
    state.record("A", None, failed=True)
    assert state.stop_reason is None
    state.record("A", None, failed=True)
    assert state.stop_reason == "the same action failed 2 times in a row"


def test_press_drag_and_secret_actions_are_checked_against_the_page():
    state = _state()
    assert apply_guards(AgentAction("PRESS", None, "Tab"), PAGE, state).action == AgentAction("PRESS", None, "Tab")
    assert apply_guards(AgentAction("PRESS", "3", "Escape"), PAGE, state).error == ""
    unknown = apply_guards(AgentAction("PRESS", "9", "Tab"), PAGE, state)
    assert (unknown.action, unknown.interventions) == (None, ["unknown_element"])
    assert apply_guards(AgentAction("DRAG", "2", "3"), PAGE, state).action == AgentAction("DRAG", "2", "3")
    nowhere = apply_guards(AgentAction("DRAG", "2", "9"), PAGE, state)
    assert (nowhere.action, nowhere.error) == (None, "unknown drop target 9; use an id from Elements")
    itself = apply_guards(AgentAction("DRAG", "2", "2"), PAGE, state)
    assert (itself.action, itself.interventions) == (None, ["drag_onto_itself"])
    secret = AgentAction("TYPE", "3", Secret("password"))
    assert apply_guards(secret, PAGE, state).action == secret  # a reference is not an empty value
