"""Capture fidelity beyond the zoo's step lists: what the before-screenshots show, WAITs on a
machine made slow on purpose (CPU throttling through CDP), and what ``traj record`` says when a
page cannot be opened or a click cannot be captured.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zoo
from PIL import Image
from typer.testing import CliRunner

from traj.cli import app
from traj.eventlog import Store

SLOW_MACHINE = 20
"""CPU throttling factor: the page's scripts run this many times slower."""


@pytest.fixture(scope="module")
def zoo_url() -> Iterator[str]:
    with zoo.serve() as url:
        yield url


def shows_colour(store: Store, digest: str | None, rgb: tuple[int, int, int]) -> bool:
    assert digest is not None
    image = Image.open(io.BytesIO(store.get_blob(digest))).convert("RGB")
    return any(colour == rgb for _, colour in image.getcolors(maxcolors=1 << 24))


def on_a_slow_machine(demonstrate: Callable) -> Callable:
    def slowed(page) -> None:
        cdp = page.context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": SLOW_MACHINE})
        demonstrate(page)

    return slowed


def test_a_typed_steps_screenshot_is_taken_before_the_first_key(zoo_url: str, tmp_path: Path) -> None:
    red = (208, 0, 0)  # the notes' text colour: on screen only once something is typed
    with Store.open(tmp_path / "store") as store:
        captured = zoo.capture(store, "contenteditable", zoo_url)
        assert captured.mismatches == []
        [typed] = [step for step in captured.steps if step.kind == "TYPE"]
        assert not shows_colour(store, typed.observation.data.screenshot, red)
        final = [e for e in store.events() if e.type == "observation"][-1]
        assert shows_colour(store, final.data.screenshot, red)


def test_a_checkbox_clicks_screenshot_shows_it_before_it_toggled(zoo_url: str, tmp_path: Path) -> None:
    green = (0, 192, 0)  # the banner shown while "Subscribe to news" is checked
    with Store.open(tmp_path / "store") as store:
        captured = zoo.capture(store, "checkboxes", zoo_url)
        assert captured.mismatches == []
        subscribe = captured.steps[0]
        assert subscribe.element is not None and subscribe.element.attrs["checked"] == "false"
        assert not shows_colour(store, subscribe.observation.data.screenshot, green)
        final = [e for e in store.events() if e.type == "observation"][-1]
        assert shows_colour(store, final.data.screenshot, green)


def test_a_slow_machine_adds_no_wait_to_a_quick_succession_of_inputs(zoo_url: str, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store") as store:
        module = zoo.script("busy_reaction")
        captured = zoo.capture(store, "busy_reaction", zoo_url, demonstrator=on_a_slow_machine(module.demonstrate))
        assert captured.mismatches == []  # CLICK, CLICK: no WAIT between them
        first, second = (step.action.at for step in captured.steps)
    # The machine did stretch the pause past the recorder's one second: the rule decided.
    assert (second - first).total_seconds() > 1.0


def test_on_a_slow_machine_waiting_for_the_page_is_still_a_wait(zoo_url: str, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store") as store:
        module = zoo.script("slow_results")
        captured = zoo.capture(store, "slow_results", zoo_url, demonstrator=on_a_slow_machine(module.demonstrate))
        assert captured.mismatches == []  # CLICK, WAIT, CLICK


def test_record_on_an_unreachable_url_is_one_error_line(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nothing listens on once this is closed
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    home = tmp_path / "store"
    result = CliRunner().invoke(
        app, ["record", "--url", url, "--task", "t", "--goal", "g", "--headless", "--home", home]
    )
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]  # after the "do the task in the browser" hint
    assert last.startswith(f"error: cannot open {url}: ") and "ERR_CONNECTION_REFUSED" in last
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 2
    with Store.open(home) as store:
        assert list(store.events()) == []  # nothing was recorded


def test_record_warns_at_record_time_about_a_click_without_a_target(zoo_url: str, tmp_path: Path) -> None:
    script = tmp_path / "demo.py"
    script.write_text("def demonstrate(page):\n    page.mouse.click(640, 89)\n", encoding="utf-8")
    url, home = f"{zoo_url}/no_target.html", str(tmp_path / "store")
    args = ["record", "--url", url, "--task", "t", "--goal", "g", "--headless", "--script", str(script), "--home", home]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    flat = " ".join(result.stderr.split())
    assert "warning: step 0 (CLICK): the click at (640, 89) on <p>" in flat
    assert "hit nothing the page reacts to" in flat


def test_a_drag_from_a_press_is_observed_in_the_one_snapshot_taken_at_the_press(zoo_url: str, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store") as store:
        captured = zoo.capture(store, "drag_new_item", zoo_url)
        assert captured.mismatches == []
        added, dragged = captured.steps
        # "Dry" appeared after the click's observation: the drag's observation is the first to see
        # it, so it is new there (a second snapshot at the same press would have seen it as seen).
        assert dragged.element is not None and dragged.element.new
        assert not any(e.new for e in added.observation.data.elements)
        others = [e for e in dragged.observation.data.elements if e.agent_id != dragged.element.agent_id]
        assert others and not any(e.new for e in others)


def test_no_screenshot_is_taken_while_a_person_types(zoo_url: str, tmp_path: Path) -> None:
    half_typed = (208, 0, 0)  # the code meter's colour while the code is neither empty nor complete
    with Store.open(tmp_path / "store") as store:
        captured = zoo.capture(store, "steady_typing", zoo_url)
        assert captured.mismatches == []
        screenshots = {e.data.screenshot for e in store.events() if e.type == "observation"}
        assert screenshots and not any(shows_colour(store, digest, half_typed) for digest in screenshots)
        final = [e for e in store.events() if e.type == "observation"][-1]
        assert shows_colour(store, final.data.screenshot, (0, 160, 0))
