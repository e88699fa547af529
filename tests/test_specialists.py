"""Specialist models: improvement jobs train a task's adapters, the registered specialist is what
``traj run --task`` loads, ``--adapter`` overrides it, a rollback changes what is loaded, and a
bad request changes nothing.

One real store per module: a scripted demonstration of the expense site recorded in Chromium,
and an improvement job that trained two adapters on the tiny model through the ordinary training
path (one optimizer step each). Every test works on its own copy of that store.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from traj.browser import record
from traj.cli import app
from traj.errors import SpecialistError
from traj.eventlog import AdapterCreated, Store
from traj.projections import Projections
from traj.sites import SITES, run_script, serve_sites
from traj.specialists import (
    choose_adapter,
    get_job,
    register_specialist,
    rollback_specialist,
    specialist_of,
    specialists,
)

SEED = 5
runner = CliRunner()


def cli(*args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def ok(*args: object) -> Result:
    result = cli(*args)
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def rows(home: Path, sql: str) -> list[dict]:
    with Store.open(home, readonly=True) as store, Projections(store) as projections:
        return projections.query(sql).to_pylist()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Path]:
    """A store with a recorded expense demo and the job ``expense-job``: run once with
    ``--register`` (``expense-job-1``), updated, run again (``expense-job-2``, parent ``-1``)."""
    home = tmp_path_factory.mktemp("specialists") / "store"
    with serve_sites() as sites, Store.open(home) as store:
        record(
            store,
            SITES["expense"].start_url(sites.url, SEED),
            task="expense",
            seed=SEED,
            demonstrator=lambda page: run_script("expense", page, sites.url, SEED),
            headless=True,
        )
    job = ("expense-job", "--home", home)
    ok("specialists", "create", *job, "--task", "expense", "--objective", "sft", "--steps", 1, "--batch-size", 2)
    tune = ("--rank", 4, "--epochs", 3, "--unverified", "--model", tiny_model, "--note", "tiny and quick")
    ok("specialists", "update", *job, *tune)
    ok("specialists", "run", *job, "--register")
    ok("specialists", "update", *job, "--lr", 1e-3, "--reset", "epochs")
    ok("specialists", "run", *job)
    yield home


@pytest.fixture
def home(trained: Path, tmp_path: Path) -> Path:
    """This test's own copy of the trained store (a store is a directory, safe to copy)."""
    return Path(shutil.copytree(trained, tmp_path / "copy"))


def run_task(home: Path, tiny_model: Path, *extra: object) -> tuple[Result, dict]:
    """``traj run --task expense`` for one step; returns the CLI result and the run's started event."""
    before = {r["run_id"] for r in rows(home, "SELECT run_id FROM runs")}
    result = cli(
        "run", "--task", "expense", "--seed", SEED, "--model", tiny_model, "--max-steps", 1, "--headless",
        "--home", home, *extra,
    )  # fmt: skip
    assert result.exit_code in (0, 1) and "run " in result.stdout, result.stdout + result.stderr
    [run] = [r for r in rows(home, "SELECT run_id, adapter FROM runs") if r["run_id"] not in before]
    steps = rows(home, f"SELECT adapter FROM run_steps WHERE run_id = '{run['run_id']}'")
    assert steps and {s["adapter"] for s in steps} == {run["adapter"]}, "every step ran with the adapter it started"
    return result, run


# ---------------------------------------------------------------- improvement jobs


def test_an_improvement_job_trains_through_ordinary_training_jobs_with_lineage(trained: Path) -> None:
    [job] = rows(trained, "SELECT job, scope, target, objective, runs, last_adapter, note FROM improvement_jobs")
    assert job == {
        "job": "expense-job",
        "scope": "task",
        "target": "expense",
        "objective": "sft",
        "runs": 2,
        "last_adapter": "expense-job-2",
        "note": "tiny and quick",
    }
    events = rows(
        trained,
        "SELECT type, CAST(data->'changed' AS VARCHAR) AS changed FROM events "
        "WHERE stream = 'improve/expense-job' ORDER BY seq",
    )
    assert [(e["type"], e["changed"]) for e in events] == [
        ("improvement.created", None),
        ("improvement.updated", '["settings","note"]'),
        ("improvement.ran", None),
        ("improvement.updated", '["settings"]'),
        ("improvement.ran", None),
    ]
    with Store.open(trained, readonly=True) as store:
        settings = get_job(store, "expense-job").settings
    assert settings == {
        "steps": 1,
        "batch_size": 2,
        "rank": 4,
        "learning_rate": 1e-3,
        "unverified": True,
        "model": settings["model"],
    }
    made = rows(
        trained,
        "SELECT r.adapter, r.parent, r.registered, t.status, t.objective, t.steps, t.parent_adapter, "
        "CAST(t.config->>'learning_rate' AS DOUBLE) AS lr, CAST(t.config->>'rank' AS INTEGER) AS rank "
        "FROM improvement_runs r JOIN train_runs t ON t.job_id = r.train_job_id ORDER BY r.position",
    )
    assert made == [
        {"adapter": "expense-job-1", "parent": None, "registered": True, "status": "completed", "objective": "sft",
         "steps": 1, "parent_adapter": None, "lr": 1e-5, "rank": 4},
        {"adapter": "expense-job-2", "parent": "expense-job-1", "registered": False, "status": "completed",
         "objective": "sft", "steps": 1, "parent_adapter": "expense-job-1", "lr": 1e-3, "rank": 4},
    ]  # fmt: skip
    demos = rows(trained, "SELECT DISTINCT adapter, demo_id IS NOT NULL AS from_demo FROM lineage ORDER BY adapter")
    assert demos == [{"adapter": "expense-job-1", "from_demo": True}, {"adapter": "expense-job-2", "from_demo": True}]

    listed = ok("specialists", "list", "--home", trained).stdout
    assert "expense-job" in listed and "specialists: expense -> expense-job-1" in listed


def test_an_agent_scoped_job_trains_on_every_task_and_is_registered_per_task(home: Path, tiny_model: Path) -> None:
    settings = ("--steps", 1, "--batch-size", 2, "--rank", 4, "--unverified", "--model", tiny_model)
    ok("specialists", "create", "generalist", "--agent", "shopper", "--objective", "sft", *settings, "--home", home)
    before = rows(home, "SELECT count(*) AS n FROM events")
    refused = cli("specialists", "run", "generalist", "--register", "--home", home)
    assert refused.exit_code == 1 and "traj adapters register" in refused.stderr
    assert rows(home, "SELECT count(*) AS n FROM events") == before

    ran = ok("specialists", "run", "generalist", "--home", home).stdout
    assert "adapter generalist-1," in ran and "parent" not in ran  # an agent's job has no task specialist to follow
    [job] = rows(
        home, "SELECT scope, target, objective, runs, last_adapter FROM improvement_jobs WHERE job = 'generalist'"
    )
    assert job == {"scope": "agent", "target": "shopper", "objective": "sft", "runs": 1, "last_adapter": "generalist-1"}
    ok("adapters", "register", "generalist-1", "--task", "expense", "--home", home)
    with Store.open(home, readonly=True) as store:
        assert specialist_of(store, "expense") == "generalist-1"
    assert rows(home, "SELECT task, via FROM task_adapters WHERE name = 'generalist-1'") == [
        {"task": "expense", "via": ["data", "registered"]}
    ]


def test_rolling_back_an_adapter_returns_every_task_it_serves_to_its_parent(tmp_path: Path) -> None:
    with Store.open(tmp_path / "store") as store:
        for name, parent in (("a", None), ("b", "a"), ("c", "b")):
            made = AdapterCreated(name=name, job_id=f"job-{name}", base_model="tiny", parent=parent)
            store.append(f"adapter/{name}", [made], expected_seq=0)
        for adapter, task in (("b", "t1"), ("b", "t2"), ("c", "t3")):
            register_specialist(store, adapter, task)
        changes = rollback_specialist(store, "b")
        assert [(c.task, c.adapter, c.previous, c.change) for c in changes] == [
            ("t1", "a", "b", "rolled_back"),
            ("t2", "a", "b", "rolled_back"),
        ]
        assert specialists(store) == {"t1": "a", "t2": "a", "t3": "c"}
        assert [rollback_specialist(store, task="t3")[0].adapter for _ in range(2)] == ["b", "a"]
        end = store.next_position
        with pytest.raises(SpecialistError, match="no earlier adapter"):
            rollback_specialist(store, task="t3")
        with pytest.raises(SpecialistError, match="already the specialist"):
            register_specialist(store, "a", "t1")
        assert store.next_position == end


# ---------------------------------------------------------------- what traj run --task loads


def test_the_registered_specialist_is_the_one_traj_run_task_loads(home: Path, tiny_model: Path) -> None:
    result, run = run_task(home, tiny_model)
    assert run["adapter"] == "expense-job-1"
    assert "adapter 'expense-job-1': the registered specialist of task 'expense'" in result.stdout

    ok("adapters", "register", "expense-job-2", "--task", "expense", "--home", home)
    listed = ok("adapters", "list", "--task", "expense", "--home", home).stdout
    assert "expense-job-1" in listed and listed.splitlines()[-1] == "task expense: specialist expense-job-2"
    result, run = run_task(home, tiny_model)
    assert run["adapter"] == "expense-job-2", result.stdout

    # Rolling the adapter back returns the task to its parent in lineage; the next run loads it.
    rolled = ok("adapters", "rollback", "expense-job-2", "--home", home).stdout
    assert "task expense: specialist expense-job-1 (rolled back from expense-job-2)" in rolled
    result, run = run_task(home, tiny_model)
    assert run["adapter"] == "expense-job-1", result.stdout
    history = rows(home, "SELECT adapter, change, previous, reason FROM specialist_history ORDER BY position")
    assert history == [
        {"adapter": "expense-job-1", "change": "registered", "previous": None, "reason": None},
        {"adapter": "expense-job-2", "change": "registered", "previous": "expense-job-1", "reason": None},
        {"adapter": "expense-job-1", "change": "rolled_back", "previous": "expense-job-2", "reason": "parent"},
    ]


def test_adapter_overrides_the_specialist_and_without_one_the_base_model_runs(home: Path, tiny_model: Path) -> None:
    result, run = run_task(home, tiny_model, "--adapter", "expense-job-2")
    assert run["adapter"] == "expense-job-2"
    assert "given with --adapter instead of the specialist 'expense-job-1'" in result.stdout

    rollback = ok("adapters", "rollback", "--task", "expense", "--to", "expense-job-2", "--home", home)
    assert "specialist expense-job-2" in rollback.stdout
    with Store.open(home) as store:  # a rollback to a named adapter, then (from the Python API) back to its parent
        assert specialist_of(store, "expense") == "expense-job-2"
        [change] = rollback_specialist(store, task="expense")
        assert (change.adapter, change.previous) == ("expense-job-1", "expense-job-2")
        assert choose_adapter(store, "expense").adapter == "expense-job-1"
        assert choose_adapter(store, "expense", backend="openai").adapter is None
        elsewhere = choose_adapter(store, "expense", model="/some/other/model")
        assert elsewhere.adapter is None and "trained on" in elsewhere.reason

    ok("specialists", "create", "calendar-job", "--task", "calendar", "--home", home)  # a job alone is no specialist
    with Store.open(home) as store:
        none = choose_adapter(store, "calendar")
    assert none.adapter is None and none.source == "base" and "no registered specialist" in none.reason
    listed = ok("adapters", "list", "--task", "calendar", "--home", home).stdout
    assert "no adapters of task 'calendar'" in listed


# ---------------------------------------------------------------- bad requests change nothing


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("adapters", "register", "nope", "--task", "expense"), "no adapter 'nope'"),
        (("adapters", "register", "expense-job-2", "--task", "bad task"), "invalid task name"),
        (("adapters", "register", "expense-job-1", "--task", "expense"), "already the specialist"),
        (("adapters", "rollback", "nope"), "no adapter 'nope'"),
        (("adapters", "rollback", "expense-job-2"), "not the specialist of any task"),
        (("adapters", "rollback", "expense-job-1"), "no earlier adapter"),
        (("adapters", "rollback", "--task", "expense"), "no earlier adapter"),
        (("adapters", "rollback", "--task", "calendar"), "has no registered specialist"),
        (("adapters", "rollback", "--task", "expense", "--to", "nope"), "no adapter 'nope' to roll back to"),
        (("adapters", "rollback", "expense-job-1", "--task", "expense"), "one of them"),
        (("adapters", "rollback"), "one of them"),
        (("specialists", "create", "expense-job", "--task", "expense"), "exists"),
        (("specialists", "create", "x", "--task", "expense", "--agent", "a"), "one of them"),
        (("specialists", "create", "x", "--task", "expense", "--rank", "0"), "bad job setting"),
        (("specialists", "create", "x", "--task", "expense", "--objective", "ppo"), "unknown objective"),
        (("specialists", "create", "a b", "--task", "expense"), "invalid job name"),
        (("specialists", "update", "nope", "--steps", "2"), "no improvement job 'nope'"),
        (("specialists", "update", "expense-job", "--steps", "1"), "nothing to change"),
        (("specialists", "update", "expense-job", "--reset", "stepz"), "unknown job setting 'stepz'"),
        (("specialists", "run", "nope"), "no improvement job 'nope'"),
        (("run", "--task", "expense", "--adapter", "nope", "--max-steps", "1", "--headless"), "no adapter 'nope'"),
    ],
)
def test_a_bad_request_is_one_error_line_and_changes_nothing(trained: Path, args: tuple[str, ...], needle: str) -> None:
    before = rows(trained, "SELECT count(*) AS n, max(position) AS last FROM events")
    result = cli(*args, "--home", trained)
    assert result.exit_code == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], lines
    assert rows(trained, "SELECT count(*) AS n, max(position) AS last FROM events") == before
