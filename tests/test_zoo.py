"""Every page of the widget zoo (tests/zoo/): its scripted demonstration is recorded exactly
(kind, target, value, the target's state before each step) and replays to the page's success
state on the same page.

A page and its script are picked up by ``tests/zoo/__init__.py``; see there for the format.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import zoo

from traj.eventlog import Store


@pytest.fixture(scope="module")
def zoo_url() -> Iterator[str]:
    with zoo.serve() as url:
        yield url


@pytest.mark.parametrize("name", zoo.PAGES)
def test_zoo_page_is_captured_exactly_and_replays_to_done(name: str, zoo_url: str, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store") as store:
        captured = zoo.capture(store, name, zoo_url)
        assert captured.mismatches == []
        if getattr(zoo.script(name), "REPLAYABLE", True):
            done, reason = zoo.replay_done(store, captured.demo.demo_id, f"{zoo_url}/{name}.html")
            assert done, reason


def test_fields_named_by_the_text_beside_them_are_found_again_in_another_order(zoo_url: str, tmp_path: Path) -> None:
    """No label markup: each field is named by its row header, label or caption, so a replay on
    the page with its rows and boxes reversed types each value into the field it belongs to."""
    with Store.open(tmp_path / "store") as store:
        captured = zoo.capture(store, "unlabelled_fields", zoo_url)
        assert captured.mismatches == []
        done, reason = zoo.replay_done(store, captured.demo.demo_id, f"{zoo_url}/unlabelled_fields.html?order=reversed")
        assert done, reason


def test_a_control_known_only_by_its_text_is_never_healed_into_another(zoo_url: str, tmp_path: Path) -> None:
    """The dragged item has no name, only its text: on an instance without Ines, the rung that
    finds the third item by position finds Omar, which is refused, not dragged."""
    with Store.open(tmp_path / "store") as store:
        captured = zoo.capture(store, "sortable_list", zoo_url)
        assert captured.mismatches == []
        done, reason = zoo.replay_done(
            store, captured.demo.demo_id, f"{zoo_url}/sortable_list.html?names=Ada,Carl,Omar,Zoe"
        )
        assert not done and "element not found" in reason and "not 'Ines'" in reason, reason
