"""Guards between the parsed action and the browser: cheap rules that catch a small model's
typical mistakes before they cost a step or end a run wrongly.

- ``FINISH`` right after typing into a search field that was never submitted becomes
  ``PRESS_ENTER`` on that field (the model believes the search happened).
- ``TYPE`` with an empty value is rejected (it would only clear the field).
- An element id that is not on the page is rejected, and the error is fed back: the target of
  any kind (``PRESS`` on the focused element has none) and ``DRAG``'s drop target.
- ``DRAG`` of an element onto itself is rejected (it would do nothing).
- The same failing action repeated ``max_repeated_failures`` times in a row stops the run.

Rejections and execution failures reach the model through the history (``-> error: ...``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from traj.eventlog import Element, Secret
from traj.prompt import AgentAction

__all__ = ["GuardState", "Guarded", "apply_guards"]

_TARGETED = frozenset({"CLICK", "TYPE", "SELECT", "DRAG"})


@dataclass(frozen=True)
class Guarded:
    """The guards' verdict: the action to execute (``None`` when rejected), and why."""

    action: AgentAction | None
    interventions: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class GuardState:
    """What the guards remember across the steps of one run."""

    max_repeated_failures: int = 2
    unsubmitted_search: str | None = field(default=None, init=False)
    """The id of a search field typed into and not yet submitted."""
    _search_ids: set[str] = field(default_factory=set, init=False)
    _last_failure: str | None = field(default=None, init=False)
    _repeats: int = field(default=0, init=False)

    def record(self, key: str, action: AgentAction | None, *, failed: bool) -> None:
        """Note how a step went. ``key`` identifies what the model proposed (the action's JSON, or
        its raw text when nothing parsed): identical failures in a row count towards a stop."""
        if failed:
            self._repeats = self._repeats + 1 if key == self._last_failure else 1
            self._last_failure = key
            return
        self._last_failure, self._repeats = None, 0
        if action is None:
            return
        if action.kind == "TYPE":
            self.unsubmitted_search = action.target if self._is_search(action.target) else None
        elif action.kind in ("PRESS_ENTER", "CLICK", "NAVIGATE", "SELECT"):
            self.unsubmitted_search = None

    @property
    def stop_reason(self) -> str | None:
        """Set once the same action has failed ``max_repeated_failures`` times in a row."""
        if self._repeats >= self.max_repeated_failures and self._last_failure:
            return f"the same action failed {self._repeats} times in a row"
        return None

    def observe(self, elements: Iterable[Element]) -> None:
        """Remember which fields on the page are search fields."""
        self._search_ids = {e.agent_id for e in elements if _is_search_field(e)}

    def _is_search(self, agent_id: str | None) -> bool:
        return agent_id is not None and agent_id in self._search_ids


def apply_guards(action: AgentAction, elements: Iterable[Element], state: GuardState) -> Guarded:
    """Check ``action`` against the page's ``elements`` and the run so far."""
    ids = {e.agent_id for e in elements}
    if action.kind == "TYPE" and not isinstance(action.value, Secret) and not (action.value or "").strip():
        return Guarded(None, ["empty_type"], "TYPE needs a non-empty value")
    if (
        action.kind in _TARGETED or (action.kind == "PRESS" and action.target is not None)
    ) and action.target not in ids:
        return Guarded(None, ["unknown_element"], f"unknown element {action.target}; use an id from Elements")
    if action.kind == "DRAG" and action.value not in ids:
        return Guarded(None, ["unknown_element"], f"unknown drop target {action.value}; use an id from Elements")
    if action.kind == "DRAG" and action.value == action.target:
        return Guarded(None, ["drag_onto_itself"], f"DRAG [{action.target}] onto itself does nothing")
    if action.kind == "FINISH" and state.unsubmitted_search in ids:
        field_id = state.unsubmitted_search
        return Guarded(
            AgentAction("PRESS_ENTER", field_id, None), [f"finish_before_submit -> PRESS_ENTER [{field_id}]"]
        )
    return Guarded(action)


def _is_search_field(element: Element) -> bool:
    if element.role == "searchbox" or element.attrs.get("type") == "search":
        return True
    words = " ".join([element.name, element.attrs.get("placeholder", ""), element.attrs.get("name", "")]).lower()
    return element.role in ("textbox", "combobox") and ("search" in words or "find" in words or "query" in words)
