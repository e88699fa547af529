"""Editing a demonstration's variables (``traj demos vars``): rename or drop what the goal gave.

An edit appends a new ``demo.variables`` event to the demo's stream (the latest wins), so the
recorded one stays in the log; the template is cut again from the goal with what remains.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from traj.errors import VariableError
from traj.eventlog import DemoVariables, Store
from traj.projections import Demo, goal_template, load_demo, value_spans

__all__ = ["edit_variables"]

_NAME = re.compile(r"[A-Za-z_]\w*")


def edit_variables(
    store: Store, demo_id: str, *, rename: Mapping[str, str] | None = None, drop: Sequence[str] = ()
) -> Demo:
    """Rename (old -> new) and drop variables of ``demo_id``; returns the demo as edited.

    Raises VariableError, writing nothing, for a name the demo does not have, a new name that
    is not an identifier or is taken, or an edit that changes nothing.
    """
    demo = load_demo(store, demo_id)
    rename = dict(rename or {})
    unknown = sorted((set(rename) | set(drop)) - set(demo.variables))
    if unknown:
        known = ", ".join(demo.variables) or "none"
        raise VariableError(f"demo {demo_id} has no variable {', '.join(unknown)} (its variables: {known})")
    if not rename and not drop:
        raise VariableError("nothing to change: give --rename OLD=NEW or --drop NAME")
    kept = [name for name in demo.variables if name not in drop]
    names = [rename.get(name, name) for name in kept]
    bad = [new for new in rename.values() if not _NAME.fullmatch(new)]
    if bad:
        raise VariableError(f"a variable name is a letter or _ then letters, digits or _, not {bad[0]!r}")
    if len(set(names)) != len(names):
        raise VariableError(f"two variables would be named alike: {', '.join(names)}")
    defaults = {rename.get(n, n): demo.defaults[n] for n in kept if n in demo.defaults}
    store.append(
        f"demo/{demo_id}",
        [
            DemoVariables(
                demo_id=demo_id,
                variables={rename.get(n, n): demo.variables[n] for n in kept},
                defaults=defaults,
                template=goal_template(demo.started.goal, defaults, free=value_spans(demo.started.goal)),
                options={rename.get(n, n): demo.options[n] for n in kept if n in demo.options},
            )
        ],
        expected_seq=None,
    )
    return load_demo(store, demo_id)
