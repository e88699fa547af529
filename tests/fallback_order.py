"""The model fallback's fixture page and demonstration, shared by the replay and ``traj run`` tests.

``tests/workflow_pages/fallback_order.html``: order a mug for Ada (click the name field, type,
click "Place order"). On ``?variant=moved`` the order button is "Confirm purchase" at the top of
the form; on ``?variant=renamed`` the field's label is "Full name" too. :func:`stuck_at` replays
the demonstration without a model on a variant and returns where it stopped and the exact
prompt the model fallback sends there, to tune a policy whose answer on that page is known.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conftest import serve_directory

from traj.browser import launch, record, take_snapshot
from traj.eventlog import Store
from traj.policy import open_policy
from traj.prompt import AgentAction
from traj.replay import fallback_prompt, replay_demo

PAGE = Path(__file__).with_name("workflow_pages") / "fallback_order.html"


def _click(page: Any, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def order_for_ada(page: Any) -> None:
    """The demonstration: three steps (CLICK the field, TYPE "Ada", CLICK "Place order")."""
    _click(page, "#name")
    page.keyboard.type("Ada", delay=5)
    _click(page, "#place")
    page.wait_for_timeout(200)


@contextlib.contextmanager
def serving(root: Path) -> Iterator[str]:
    """Serve the page from ``root`` on 127.0.0.1; yields its URL."""
    shutil.copy(PAGE, root)
    with serve_directory(root) as url:
        yield f"{url}/{PAGE.name}"


def record_order(home: Path, site: str) -> str:
    """Record :func:`order_for_ada` on ``site`` into a new store at ``home``; returns the demo's id."""
    with Store.open(home) as store:
        recorded = record(store, site, task="order", demonstrator=order_for_ada, headless=True)
    assert recorded.success is True
    return recorded.demo_id


def stuck_at(variant: str, home: Path, demo_id: str, site: str, tiny_model: Path, copy: Path) -> dict[str, Any]:
    """Where the replay of ``demo_id`` without a model stops on ``variant``: ``result``, the failed
    step's ``index``, the fallback's ``prompt`` text there and the page's elements ``by_name``."""
    shutil.copytree(home, copy)
    base = open_policy("transformers", tiny_model)
    with Store.open(copy) as store, launch(headless=True) as session:
        result = replay_demo(store, demo_id, session.page, url=f"{site}?variant={variant}", timeout_s=1.0)
        index = len(result.steps) - 1
        prompt = fallback_prompt(store, demo_id, index, session.page, base)
        by_name = {e.name: e.agent_id for e in take_snapshot(session.page, screenshot=False).elements}
    base.close()
    return {"result": result, "index": index, "prompt": prompt.text, "by_name": by_name}


def click(by_name: dict[str, str], name: str) -> str:
    """The answer that clicks the element called ``name``."""
    return AgentAction("CLICK", by_name[name], None).to_json()
