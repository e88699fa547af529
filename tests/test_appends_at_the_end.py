"""Callers that append to a stream other writers share: judgements (in process and over HTTP) and
improvement-job updates. Two at once both land, once each, with no conflict reaching the user."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.test_policy_remote import EchoPolicy
from traj.agent import record_feedback
from traj.eventlog import Store, verify_store
from traj.serve import create_app, serve_in_thread
from traj.specialists import create_job, get_job, update_job

ROUNDS = 4
TOKEN = "concurrency-token"


def together(*actions: Callable[[], object]) -> list[object]:
    """Run the actions in threads released at once; their results (or the exceptions they raised)."""
    start = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def run(k: int) -> None:
        start.wait()
        try:
            results[k] = actions[k]()
        except BaseException as exc:
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture
def demo_store(tmp_path, events) -> Path:
    """A closed store holding one demonstration, demo/d1."""
    home = tmp_path / "demo-store"
    with Store.open(home) as store:
        store.append("demo/d1", events.demo("d1", steps=2), expected_seq=0)
    return home


def feedback_seqs(store: Store) -> list[int]:
    return store.read(stream="feedback/demo/d1", columns=["seq"])["seq"].to_pylist()


def test_two_judgements_of_one_demo_at_once_both_land_once(demo_store, tmp_path):
    for round_ in range(ROUNDS):
        home = Path(shutil.copytree(demo_store, tmp_path / f"round-{round_}"))
        with Store.open(home) as store:  # fresh: nothing read yet, as right after start-up
            results = together(*(lambda: record_feedback(store, "demo/d1", "bad") for _ in range(2)))
            assert not [r for r in results if isinstance(r, BaseException)], f"round {round_}: {results}"
            assert feedback_seqs(store) == [0, 1], f"round {round_}"
        assert verify_store(home).ok


def test_two_feedback_posts_right_after_the_server_starts_get_seq_0_and_1(demo_store, tmp_path):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for round_ in range(ROUNDS):
        home = Path(shutil.copytree(demo_store, tmp_path / f"round-{round_}"))
        with Store.open(home) as store:
            app = create_app(EchoPolicy(), token=TOKEN, store=store, model_dir=tmp_path / "no-model")
            with serve_in_thread(app) as url, httpx.Client(base_url=url, headers=headers) as client:
                answers = together(
                    *(lambda: client.post("/feedback", json={"run": "demo/d1", "label": "bad"}) for _ in range(2))
                )
            statuses = [a.status_code if isinstance(a, httpx.Response) else repr(a) for a in answers]
            assert statuses == [201, 201], f"round {round_}: {[getattr(a, 'text', a) for a in answers]}"
            assert feedback_seqs(store) == [0, 1], f"round {round_}"
        assert verify_store(home).ok


def test_two_updates_of_one_improvement_job_at_once_both_take_effect(tmp_path):
    for round_ in range(ROUNDS // 2):  # each update reads the job through the projections: slower
        with Store.open(tmp_path / f"round-{round_}") as store:
            create_job(store, "job", task="expense", objective="sft")
            results = together(
                lambda: update_job(store, "job", settings={"steps": 3}),
                lambda: update_job(store, "job", note="tuned"),
            )
            assert not [r for r in results if isinstance(r, BaseException)], f"round {round_}: {results}"
            job = get_job(store, "job")
            assert (job.settings, job.note) == ({"steps": 3}, "tuned"), f"round {round_}: an update was lost"
