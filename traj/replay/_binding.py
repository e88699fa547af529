"""Binding a demonstration's variables to a new goal.

The demo's goal with its values cut out is its template ("Click the '{button}' button"); a
new goal worded the same way aligns with it and gives the values without any model. A goal
worded otherwise goes to a policy, which sees the demo's goal and values as the example and
answers the new values as JSON; every value it names must occur in the new goal (or be one
of the options the page offered), so a model cannot invent an instance. Otherwise the error
names what could not be bound. Values given outright (``--var``) win, and a name the demo
does not have is an error rather than silently ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from traj.errors import VariableError
from traj.projections import FREE, Demo, occurs, template_parts
from traj.prompt import Prompt

if TYPE_CHECKING:
    from traj.policy import Policy

__all__ = ["bind_goal", "check_variable_names", "variables_prompt"]


def check_variable_names(demo: Demo, given: Mapping[str, str]) -> None:
    """Refuse values for variables ``demo`` does not have (a typo must not go unnoticed)."""
    unknown = sorted(set(given) - set(demo.variables))
    if unknown:
        known = ", ".join(demo.variables) or "none"
        raise VariableError(f"demo {demo.demo_id} has no variable {', '.join(unknown)} (its variables: {known})")


def bind_goal(
    demo: Demo, goal: str, *, policy: Policy | None = None, given: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The values of ``demo``'s variables that ``goal`` states: aligned with the demo's goal
    template, else filled by ``policy``; ``given`` values win and need not be bound.

    Raises VariableError naming each variable that could not be bound, or the policy's
    answer that names a value the goal does not state.
    """
    given = dict(given or {})
    check_variable_names(demo, given)
    needed = [name for name in demo.variables if name not in given]
    if not needed:
        return given
    aligned = align(demo.template, goal) or {}
    unbound = [name for name in needed if name not in aligned]
    if not unbound:
        return {name: _canonical(demo, name, aligned[name]) for name in needed} | given
    if policy is None:
        raise VariableError(
            f"cannot bind {', '.join(unbound)} from the goal {goal!r}: it does not follow the demo's goal "
            f"{demo.template!r}; give a policy (--backend/--model) to fill them, or the values with --var"
        )
    filled = _fill(policy, demo, goal, needed)
    return {name: filled[name] for name in needed} | given


def align(template: str, goal: str) -> dict[str, str] | None:
    """The template's variables as ``goal`` fills them, or None when the wording differs.

    Case and runs of whitespace aside, every literal part of the template must be in the goal,
    in order; a variable used twice must have the same value both times; ``{*}`` (a value
    the goal states that no step uses) aligns with any text.
    """
    pattern, groups, seen = [], {}, {}
    for literal, name in template_parts(template):
        if name is None:
            pattern.extend(
                r"\s+" if part.isspace() else re.escape(part) for part in re.split(r"(\s+)", literal) if part
            )
        elif name == FREE:  # a value no step uses: any text
            pattern.append(".+?")
        elif name in seen:
            pattern.append(f"(?P={seen[name]})")
        else:
            seen[name] = groups[name] = f"v{len(groups)}"
            pattern.append(f"(?P<{seen[name]}>.+?)")
    match = re.fullmatch("".join(pattern), goal.strip(), re.IGNORECASE | re.DOTALL)
    if match is None:
        return None
    values = {name: " ".join(match.group(group).split()) for name, group in groups.items()}
    return values if all(values.values()) else None


def variables_prompt(demo: Demo, goal: str) -> str:
    """What a policy is asked to fill ``goal``'s variables: the demo's goal and values as the example."""
    example = json.dumps({name: demo.defaults.get(name, "") for name in demo.variables}, ensure_ascii=False)
    options = "".join(
        f"Options for {name}: {', '.join(values)}\n" for name, values in demo.options.items() if name in demo.variables
    )
    return (
        "Fill in the variables of the new goal, as the example does.\n"
        f"Example goal: {demo.started.goal}\n"
        f"Example variables: {example}\n"
        f"{options}"
        f"New goal: {goal}\n"
        "Variables:"
    )


def _fill(policy: Policy, demo: Demo, goal: str, needed: list[str]) -> dict[str, str]:
    """The policy's values for ``needed``, each checked against the goal and the options."""
    text = variables_prompt(demo, goal)
    example = json.dumps({name: demo.defaults.get(name, "") for name in demo.variables}, ensure_ascii=False)
    answer = policy.generate(
        Prompt(text, policy.count_tokens(text)), max_new_tokens=2 * policy.count_tokens(example) + 16
    ).text
    values = _parsed(answer)
    filled: dict[str, str] = {}
    for name in needed:
        value = values.get(name)
        if not isinstance(value, str) or not value.strip():
            raise VariableError(f"the policy gave no value for {name} (it answered {answer.strip()[:120]!r})")
        value = " ".join(value.split())
        if not occurs(goal, value) and _option(demo, name, value) is None:
            raise VariableError(
                f"the policy's value {value!r} for {name} is not in the goal {goal!r}"
                + (" nor one of its options" if demo.options.get(name) else "")
                + "; refused (give it with --var)"
            )
        filled[name] = _canonical(demo, name, value)
    return filled


def _parsed(answer: str) -> dict[str, object]:
    start, end = answer.find("{"), answer.rfind("}")
    try:
        values = json.loads(answer[start : end + 1]) if 0 <= start < end else None
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, dict):
        raise VariableError(f"the policy's answer is not the variables as a JSON object: {answer.strip()[:120]!r}")
    return values


def _option(demo: Demo, name: str, value: str) -> str | None:
    """The option of ``name`` that ``value`` is (in the page's spelling), if any."""
    return next((option for option in demo.options.get(name, []) if option.lower() == value.lower()), None)


def _canonical(demo: Demo, name: str, value: str) -> str:
    return _option(demo, name, value) or value
