"""A demo's success spec as the commands use it: edited by appending ``demo.success`` (the latest
wins), and looked up for a task (its latest good demo's)."""

from __future__ import annotations

from traj.browser import unconfirmed_values
from traj.errors import TrajError
from traj.eventlog import DemoSuccess, Store, SuccessSpec
from traj.projections import load_demo
from traj.replay._eval import latest_demo

__all__ = ["set_success_spec", "task_success_spec"]


def set_success_spec(store: Store, demo_id: str, spec: SuccessSpec) -> None:
    """Make ``spec`` the success spec of ``demo_id`` from now on (the recorded one stays in the log).

    An unknown demo is a one-line TrajError and nothing is written.
    """
    load_demo(store, demo_id)
    store.append(f"demo/{demo_id}", [DemoSuccess(demo_id=demo_id, spec=spec, source="user")], expected_seq=None)


def task_success_spec(store: Store, task: str) -> SuccessSpec | None:
    """The success spec of ``task``'s latest good demonstration; None when it has none.

    A run of the task without the workflow (the agent alone) is judged by it, so the agent's
    success on a site with no ``window.traj.check()`` is known where a demo showed the end state.
    A spec derived from that end state that cannot show the demo's variables is None too: the
    agent's values are its own goal's, and an end that looks the same whatever was typed or
    clicked cannot confirm them.
    """
    try:
        demo = load_demo(store, latest_demo(store, task))
    except TrajError:
        return None
    if unconfirmed_values(demo.success_spec, demo.success_source, demo.variables):
        return None
    return demo.success_spec
