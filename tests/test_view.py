"""``traj view`` in real Chromium over a real store: recorded demos, a replay, an agent run with
feedback, an enrichment and a two-step training run on the tiny model.

The viewer is started by the test on 127.0.0.1; every page is screenshotted into the
module's pytest temporary folder (``view-screenshots``) for review.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from traj.agent import run_on_page
from traj.browser import launch, record, take_snapshot
from traj.cli import app as cli
from traj.eventlog import AdapterLoaded, Enrichment, Feedback, Store
from traj.policy import Generation
from traj.projections import Projections
from traj.prompt import Prompt
from traj.replay import replay
from traj.serve import serve_in_thread
from traj.sites import SITES, run_script
from traj.train import SdftConfig, train, training_examples
from traj.view import create_app

SEED = 5


class ScriptedPolicy:
    """Answers each prompt with the next scripted text: an agent run without a model."""

    backend = "scripted"
    model_id = "scripted"
    context_window = 4096
    adapters: tuple[str, ...] = ()
    active_adapter = None

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)

    def count_tokens(self, text: str) -> int:
        return len(text) // 4

    def generate(self, prompt: Prompt, *, max_new_tokens: int = 64, temperature: float = 0.0) -> Generation:
        answer = self.answers.pop(0)
        return Generation(answer, prompt.tokens, len(answer) // 4, 0.001)

    def load_adapter(self, name: str, path: str | Path) -> None: ...
    def set_adapter(self, name: str | None) -> None: ...
    def unload_adapter(self, name: str) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Recorded:
    home: Path
    demo_id: str
    other_demo_id: str
    run_id: str
    job_id: str
    adapter: str
    enriched_action_id: str


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, sites_server, tiny_model) -> Recorded:
    """A store as a person would have it after a day's work, then closed so the viewer can write feedback."""
    home = tmp_path_factory.mktemp("view") / "store"
    with Store.open(home) as store:
        demo = record(
            store,
            SITES["expense"].start_url(sites_server.url, SEED),
            task="expense",
            seed=SEED,
            demonstrator=lambda page: run_script("expense", page, sites_server.url, SEED),
            headless=True,
        )
        other = record(
            store,
            SITES["calendar"].start_url(sites_server.url, SEED),
            task="calendar",
            seed=SEED,
            demonstrator=lambda page: run_script("calendar", page, sites_server.url, SEED),
            headless=True,
        )
        assert replay(store, demo.demo_id, headless=True).success is True
        enriched = next(s["action_id"] for s in _steps(store, demo.demo_id) if s["kind"] == "TYPE")
        store.append(
            f"enrich/{demo.demo_id}",
            [
                Enrichment(
                    demo_id=demo.demo_id,
                    action_id=enriched,
                    step_hash="h",
                    model="vlm-test",
                    prompt_version="1",
                    explanation="The report needs the receipt's total.",
                    element_rationale="The Amount field.",
                    expected_outcome="The amount is filled in.",
                    thinking_steps=["find the amount field", "type the total"],
                )
            ],
            expected_seq=0,
        )
        run_id = _scripted_run(store, sites_server.url)
        store.append(f"feedback/run/{run_id}", [Feedback(target=f"run/{run_id}", label="good", note="fine")], None)
        examples = training_examples(store, task="expense")
        config = SdftConfig(rank=4, lora_alpha=8, learning_rate=2e-3, max_steps=2, batch_size=4, ema_alpha=0.1)
        trained = train(store, examples, model_dir=tiny_model, config=config, task="expense")
        store.append(f"adapter/{trained.adapter}", [AdapterLoaded(name=trained.adapter, backend="transformers")], None)
    return Recorded(home, demo.demo_id, other.demo_id, run_id, trained.job_id, trained.adapter, enriched)


def _steps(store: Store, demo_id: str) -> list[dict[str, Any]]:
    with Projections(store) as projections:
        return projections.query(
            "SELECT step, kind, action_id FROM steps WHERE stream = $s ORDER BY seq", {"s": f"demo/{demo_id}"}
        ).to_pylist()


def _scripted_run(store: Store, sites_url: str) -> str:
    """An agent run on the price site: one rejected answer, then typing the product and pressing Enter.

    Its own Chromium, closed before the module's ``browser`` starts: Playwright's sync API
    cannot run two at once in one thread.
    """
    with launch(headless=True) as session:
        return _run_price(store, session.page, sites_url)


def _run_price(store: Store, page: Any, sites_url: str) -> str:
    url = f"{sites_url}/price/?seed=3&fast=1"
    page.goto(url)
    names = {e.name: e.agent_id for e in take_snapshot(page, screenshot=False).elements if e.name}
    field = next(v for k, v in names.items() if "search" in k.lower() or "product" in k.lower())
    product = next(iter(page.evaluate("window.traj.params").values()))
    answers = [
        "I am not sure what to do",
        json.dumps({"kind": "TYPE", "target": field, "value": product}),
        json.dumps({"kind": "PRESS_ENTER", "target": field, "value": None}),
    ]
    return run_on_page(store, ScriptedPolicy(answers), page, task="price", url=url, max_steps=3).run_id


@pytest.fixture(scope="module")
def viewer(recorded: Recorded) -> Iterator[str]:
    with serve_in_thread(create_app(recorded.home)) as url:
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("view-screenshots")


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def rows_of(home: Path, sql: str) -> list[dict[str, Any]]:
    """What ``traj query --json`` prints, as dicts: the projections a person would look at."""
    result = CliRunner().invoke(cli, ["query", sql, "--json", "--home", str(home)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def test_the_list_shows_demos_and_runs_and_filters_them(recorded, viewer, page, shots) -> None:
    page.goto(viewer)
    page.wait_for_function("document.querySelectorAll('tr.item').length === 3")
    streams = page.eval_on_selector_all("tr.item", "rows => rows.map(r => r.dataset.stream)")
    assert set(streams) == {f"demo/{recorded.demo_id}", f"demo/{recorded.other_demo_id}", f"run/{recorded.run_id}"}
    thumbs = page.locator("td.thumb img")
    assert thumbs.count() == 3 and all(thumbs.nth(i).get_attribute("loading") == "lazy" for i in range(3))
    page.wait_for_function("[...document.querySelectorAll('td.thumb img')].every(i => i.complete && i.naturalWidth)")
    page.screenshot(path=shots / "list.png", full_page=True)

    page.select_option("select[name=kind]", "run")
    page.wait_for_function("document.querySelectorAll('tr.item').length === 1")
    assert page.locator("tr.item").get_attribute("data-stream") == f"run/{recorded.run_id}"
    assert page.locator("tr.item .badge.good").count() == 1  # the run's whole-run feedback

    page.goto(f"{viewer}/#/?q=calendar")
    page.locator(f"tr.item[data-stream='demo/{recorded.other_demo_id}']").wait_for()
    assert page.locator("tr.item").count() == 1


def test_the_timeline_shows_each_steps_screenshot_and_the_acted_elements_box(recorded, viewer, page, shots) -> None:
    expected = rows_of(
        recorded.home,
        f"SELECT step, screenshot, target, elements, action_id FROM steps "
        f"WHERE stream = 'demo/{recorded.demo_id}' ORDER BY seq",
    )
    page.goto(f"{viewer}/#/demo/{recorded.demo_id}")
    page.wait_for_function(f"document.querySelectorAll('article.step').length === {len(expected)}")
    cards = page.locator("article.step")
    boxes = 0
    for index, step in enumerate(expected):
        card = cards.nth(index)
        card.scroll_into_view_if_needed()  # screenshots load lazily
        image = card.locator(".shot img")
        assert image.get_attribute("data-hash") == step["screenshot"]
        served = httpx.get(f"{viewer}{image.get_attribute('src')}").content
        assert hashlib.sha256(served).hexdigest() == step["screenshot"]
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        elements = json.loads(step["elements"])  # a JSON column prints as its text
        element = next((e for e in elements if e["agent_id"] == step["target"]), None)
        bbox = element and element.get("bbox")
        rect = card.locator("rect.bbox")
        if not bbox:
            assert rect.count() == 0
            continue
        boxes += 1
        assert rect.get_attribute("data-bbox") == ",".join(_js_number(bbox[k]) for k in ("x", "y", "width", "height"))
        drawn = rect.bounding_box()
        shown = image.bounding_box()
        scale = shown["width"] / image.evaluate("i => i.naturalWidth")
        near = {"abs": 3.5}  # the 3 px outline straddles the box's edge
        assert drawn["x"] == pytest.approx(shown["x"] + bbox["x"] * scale, **near)
        assert drawn["y"] == pytest.approx(shown["y"] + bbox["y"] * scale, **near)
        assert drawn["width"] == pytest.approx(bbox["width"] * scale, **near)
        assert drawn["height"] == pytest.approx(bbox["height"] * scale, **near)
    assert boxes >= 3, "the expense demo clicks and types into at least three elements"
    assert page.locator(".replay .badge.ok").count() == len(expected)  # the replay verified every step
    enriched = cards.nth(next(i for i, s in enumerate(expected) if s["action_id"] == recorded.enriched_action_id))
    assert "The report needs the receipt's total." in enriched.locator(".enrichment").inner_text()
    assert enriched.locator(".locator").inner_text()  # the locator the recorder ranked first
    page.screenshot(path=shots / "timeline.png", full_page=True)


def _js_number(value: float) -> str:
    """How JavaScript prints a number (12.0 -> "12")."""
    return str(int(value)) if float(value).is_integer() else repr(value)


def test_clicking_bad_on_a_step_appends_feedback_visible_in_traj_query(recorded, viewer, page, shots) -> None:
    page.goto(f"{viewer}/#/run/{recorded.run_id}")
    step = page.locator("article.step").filter(has=page.locator("code.action", has_text="TYPE"))
    number = int(step.get_attribute("data-step"))
    step.locator(".feedback button.bad").click()
    step.locator(".fb-label .badge.bad").wait_for()
    rows = rows_of(
        recorded.home, f"SELECT target, step, label, latest FROM feedback WHERE target = 'run/{recorded.run_id}'"
    )
    assert {"target": f"run/{recorded.run_id}", "step": number, "label": "bad", "latest": True} in rows

    [typed] = rows_of(
        recorded.home, f"SELECT target FROM steps WHERE stream = 'run/{recorded.run_id}' AND step = {number}"
    )
    correction = {"kind": "TYPE", "target": typed["target"], "value": "the right product"}
    step.locator("input.correction").fill(json.dumps(correction))
    step.locator("button.correct").click()
    pairs = _wait_for_rows(
        recorded.home, f"SELECT step, chosen FROM preference_pairs WHERE stream = 'run/{recorded.run_id}'"
    )
    assert [(p["step"], json.loads(p["chosen"])["value"]) for p in pairs] == [(number, "the right product")]
    page.reload()
    page.locator(f"article.step[data-step='{number}'] .fb-label .badge.bad").wait_for()
    page.screenshot(path=shots / "run_feedback.png", full_page=True)


def _wait_for_rows(home: Path, sql: str) -> list[dict[str, Any]]:
    import time

    deadline = time.monotonic() + 10
    while not (rows := rows_of(home, sql)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return rows


def test_a_correction_that_is_not_json_is_refused_on_the_page(recorded, viewer, page) -> None:
    page.goto(f"{viewer}/#/run/{recorded.run_id}")
    step = page.locator("article.step").first
    step.locator("input.correction").fill("click the blue one")
    step.locator("button.correct").click()
    assert "not JSON" in step.locator(".error-inline").inner_text()


def test_the_kl_chart_renders_with_the_logged_points(recorded, viewer, page, shots) -> None:
    logged = rows_of(
        recorded.home, f"SELECT step, kl, loss FROM kl_metrics WHERE job_id = '{recorded.job_id}' ORDER BY step"
    )
    assert len(logged) == 2
    page.goto(f"{viewer}/#/train")
    page.locator("tr.item").first.click()
    chart = page.locator("svg[data-series=kl]")
    chart.wait_for()
    points = chart.locator("circle.pt")
    assert points.count() == len(logged)
    drawn = [
        (int(points.nth(i).get_attribute("data-step")), float(points.nth(i).get_attribute("data-value")))
        for i in range(2)
    ]
    assert drawn == [(r["step"], pytest.approx(r["kl"])) for r in logged]
    ys = [float(points.nth(i).get_attribute("cy")) for i in range(2)]
    assert (ys[0] < ys[1]) == (logged[0]["kl"] > logged[1]["kl"])  # higher KL is drawn higher
    assert page.locator("svg[data-series=loss] circle.pt").count() == len(logged)
    assert page.locator("svg[data-series=tokens_per_s] circle.pt").count() == len(logged)
    diagnosis = page.locator(".diagnosis").inner_text()
    assert "Step-0 KL" in diagnosis
    assert "on the demonstration's own states" in diagnosis  # the store's only expense demo: no other instance
    page.screenshot(path=shots / "training.png", full_page=True)


def test_the_adapters_page_shows_where_each_is_loaded_and_its_lineage(recorded, viewer, page, shots) -> None:
    page.goto(f"{viewer}/#/adapters")
    row = page.locator(f"tr[data-adapter='{recorded.adapter}']")
    row.wait_for()
    assert "transformers" in row.inner_text() and "peft" in row.inner_text()
    assert page.locator(f"g.node.adapter.loaded[data-node='a:{recorded.adapter}']").count() == 1
    assert page.locator(f"g.node[data-node='j:{recorded.job_id}']").count() == 1
    assert page.locator(f"g.node[data-node='m:{recorded.demo_id}']").count() == 1
    assert page.locator(f"g.node[data-node='m:{recorded.other_demo_id}']").count() == 0  # not trained on
    page.screenshot(path=shots / "adapters.png", full_page=True)


def test_the_sql_box_returns_rows_and_refuses_writes(recorded, viewer, page, shots) -> None:
    page.goto(f"{viewer}/#/sql")
    page.fill("textarea#sql", "SELECT demo_id, task, steps FROM demos ORDER BY task")
    page.click("#run-sql")
    page.locator("table.sql-result").wait_for()
    cells = page.eval_on_selector_all(
        "table.sql-result tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert [c[:2] for c in cells] == [[recorded.other_demo_id, "calendar"], [recorded.demo_id, "expense"]]
    page.screenshot(path=shots / "sql.png", full_page=True)

    page.fill("textarea#sql", "DELETE FROM events")
    page.click("#run-sql")
    assert "only SELECT" in page.locator(".sql-error").inner_text()
    page.fill("textarea#sql", "COPY (SELECT 1) TO '/tmp/x.csv'")
    page.click("#run-sql")
    assert "only SELECT" in page.locator(".sql-error").inner_text()
    assert rows_of(recorded.home, "SELECT count(*) AS n FROM demos") == [{"n": 2}]


def test_a_store_with_thousands_of_demos_is_listed_a_page_at_a_time(tmp_path, events) -> None:
    from fastapi.testclient import TestClient

    with Store.open(tmp_path / "store") as store:
        for index in range(120):
            store.append(f"demo/d{index:03d}", events.demo(f"d{index:03d}", steps=1, words=5), expected_seq=0)
    with TestClient(create_app(tmp_path / "store")) as client:
        first = client.get("/api/items", params={"limit": 50}).json()
        last = client.get("/api/items", params={"limit": 50, "offset": 100}).json()
        refused = client.post("/api/sql", json={"sql": "CREATE TABLE x AS SELECT 1"})
        missing = client.get("/api/blobs/" + "0" * 64)
        locked = Store.open(tmp_path / "store")  # a recording holds the writer lock meanwhile
        try:
            busy = client.post("/api/feedback", json={"target": "demo/d000", "label": "bad", "step": 0})
        finally:
            locked.close()
        done = client.post("/api/feedback", json={"target": "demo/d000", "label": "bad", "step": 0})
    assert first["total"] == 120 and len(first["rows"]) == 50 and first["rows"][0]["id"] == "d119"
    assert [r["id"] for r in last["rows"]] == [f"d{i:03d}" for i in range(19, -1, -1)]
    assert refused.status_code == 400 and "only SELECT" in refused.json()["detail"]
    assert missing.status_code == 404
    assert busy.status_code == 409 and "already open for writing" in busy.json()["detail"]
    assert done.status_code == 200


def test_feedback_that_does_not_fit_the_log_is_refused_and_nothing_is_appended(tmp_path, events) -> None:
    from fastapi.testclient import TestClient

    with Store.open(tmp_path / "store") as store:
        store.append("demo/d1", events.demo("d1", steps=1), expected_seq=0)
    with TestClient(create_app(tmp_path / "store")) as client:
        out_of_range = client.post("/api/feedback", json={"target": "demo/d1", "label": "bad", "step": 7})
        unknown = client.post("/api/feedback", json={"target": "run/nope", "label": "good"})
        bad_label = client.post("/api/feedback", json={"target": "demo/d1", "label": "meh"})
        good = client.post("/api/feedback", json={"target": "demo/d1", "label": "good", "step": 0, "note": "clean"})
    assert out_of_range.status_code == 422 and "out of range" in out_of_range.json()["detail"]
    assert unknown.status_code == 422 and bad_label.status_code == 422
    assert good.status_code == 200 and good.json()["stream"] == "feedback/demo/d1"
    assert rows_of(tmp_path / "store", "SELECT target, step, label, note FROM feedback") == [
        {"target": "demo/d1", "step": 0, "label": "good", "note": "clean"}
    ]


def test_traj_view_is_a_command() -> None:
    result = CliRunner().invoke(cli, ["view", "--help"])
    assert result.exit_code == 0 and "--no-open" in result.output and "--port" in result.output
