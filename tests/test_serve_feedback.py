"""``POST /feedback`` on a real server: the CLI's judgement over HTTP, appended through record_feedback."""

from __future__ import annotations

import httpx
import pytest
from test_export import run_events

from tests.test_policy_remote import EchoPolicy
from traj.datasets import export_dataset
from traj.eventlog import Store
from traj.serve import create_app, serve_in_thread

TOKEN = "feedback-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def server(tmp_path):
    """A token-protected server whose store holds one run of three steps (the second rejected)."""
    store = Store.open(tmp_path / "server")
    store.append("run/r1", run_events("r1", [True, False, True]), expected_seq=0)
    app = create_app(EchoPolicy(), token=TOKEN, store=store, model_dir=tmp_path / "no-model")
    with serve_in_thread(app) as url:
        yield url, store
    store.close()


def test_feedback_over_http_becomes_the_same_rows_as_from_the_cli(server):
    url, store = server
    judged = httpx.post(f"{url}/feedback", json={"run": "r1", "label": "bad", "note": "wrong item"}, headers=AUTH)
    assert judged.status_code == 201, judged.text
    assert judged.json()["stream"] == "feedback/run/r1" and judged.json()["target"] == "run/r1"
    correction = {"kind": "CLICK", "target": "2"}
    corrected = httpx.post(
        f"{url}/feedback", json={"run": "run/r1", "label": "bad", "step": 0, "correction": correction}, headers=AUTH
    )
    assert corrected.status_code == 201, corrected.text
    body = corrected.json()
    assert (body["step"], body["label"], body["correction"]) == (
        0,
        "bad",
        {"kind": "CLICK", "target": "2", "value": None},
    )
    assert body["position"] > judged.json()["position"]

    rows = export_dataset(store, "from_feedback").table.to_pylist()
    assert [(r["step"], r["origin"], r["label"], r["output"]["selectorOrRef"]) for r in rows] == [
        (0, "step_feedback", "bad", "0"),
        (0, "correction", "good", "2"),
        (2, "run_feedback", "bad", "2"),
    ]
    [pair] = export_dataset(store, "preference").table.to_pylist()
    assert pair["chosen"] == [{"role": "assistant", "content": '{"kind":"CLICK","target":"2","value":null}'}]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"run": "nope", "label": "bad"}, 404, "no run 'nope'"),
        ({"run": "r1", "label": "meh"}, 422, "label: Input should be 'good' or 'bad'"),
        ({"run": "r1", "label": "bad", "step": 7}, 422, "step 7 is out of range: run/r1 has steps 0..2"),
        ({"run": "r1", "label": "bad", "step": 0, "correction": {"kind": "FLY"}}, 422, "unknown action kind 'FLY'"),
        ({"run": "r1", "label": "bad", "step": 0, "correction": {"kind": "CLICK", "target": "9"}}, 422, "element '9'"),
        ({"run": "r1", "label": "good", "step": 0, "correction": {"kind": "CLICK", "target": "1"}}, 422, "'bad'"),
        ({"run": "r1", "label": "bad", "extra": 1}, 422, "extra: Extra inputs are not permitted"),
    ],
)
def test_bad_feedback_is_a_json_error_and_appends_nothing(server, body, status, message):
    url, store = server
    before = store.next_position
    answer = httpx.post(f"{url}/feedback", json=body, headers=AUTH)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["detail"]
    assert store.next_position == before


def test_feedback_needs_the_token(server):
    url, store = server
    before = store.next_position
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        answer = httpx.post(f"{url}/feedback", json={"run": "r1", "label": "good"}, headers=headers)
        assert answer.status_code == 401 and "bearer token" in answer.json()["detail"]
    assert store.next_position == before
