"""The command line is scriptable: a version, completion, JSON from every lister and reporter,
whole ids in pipes, tables that fit any width, progress in logs, a resume hint, quiet third-party
warnings, bad arguments refused in one line before anything is written, every variable documented."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import traj
from traj.cli import app
from traj.cli._environment import ENVIRONMENT
from traj.eventlog import Store
from traj.projections import Projections

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of three synthetic form demos (24-column steps, long ids)."""
    home = tmp_path_factory.mktemp("sampled") / "store"
    result = runner.invoke(app, ["sample", "--home", str(home), "--demos", "3", "--steps", "3"])
    assert result.exit_code == 0, result.output
    return home


_AS_FROM_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'traj'; runpy.run_module('traj', run_name='__main__', alter_sys=True)"
)
"""``python -m traj`` with Ctrl+C's signal turned into KeyboardInterrupt, as under a terminal: a test
run started in the background (``nohup ... &``) ignores SIGINT, and a child inherits that."""


def _traj(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="80")
    return subprocess.Popen(
        [sys.executable, "-c", _AS_FROM_A_TERMINAL, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_version_is_the_packages() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"traj {traj.__version__}" == f"traj {importlib.metadata.version('traj')}"


def test_shell_completion_is_installable() -> None:
    assert "--install-completion" in runner.invoke(app, ["--help"]).stdout
    script = runner.invoke(app, ["--show-completion", "bash"])
    assert script.exit_code == 0 and "_TRAJ_COMPLETE=complete_bash" in script.stdout


def test_listers_and_reporters_print_json(sampled: Path) -> None:
    demos = [
        json.loads(line) for line in runner.invoke(app, ["demos", "--json", "--home", str(sampled)]).stdout.splitlines()
    ]
    with Projections(Store.open(sampled, readonly=True)) as projections:
        recorded = projections.query("SELECT demo_id, steps FROM demos ORDER BY position").to_pylist()
    assert [(d["demo_id"], d["steps"], d["outcome"]) for d in demos] == [(r["demo_id"], 3, "success") for r in recorded]
    stats = json.loads(runner.invoke(app, ["stats", "--json", "--home", str(sampled)]).stdout)
    assert stats["events"] == sum(stats["by_type"].values()) and stats["by_type"]["action"] == 9
    assert runner.invoke(app, ["adapters", "list", "--json", "--home", str(sampled)]).stdout == ""
    assert json.loads(runner.invoke(app, ["specialists", "list", "--json", "--home", str(sampled)]).stdout) == {
        "jobs": [],
        "specialists": {},
    }


def test_piped_demos_keep_whole_ids(sampled: Path) -> None:
    lines = runner.invoke(app, ["demos", "--home", str(sampled)], env={"COLUMNS": "40"}).stdout.splitlines()
    assert lines[0].split("\t") == ["demo", "task", "source", "steps", "outcome", "started"]
    ids = [line.split("\t")[0] for line in lines[1:4]]
    assert all(re.fullmatch(r"sample-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", i) for i in ids), ids


def test_a_wide_query_at_80_columns_prints_one_line_per_value(sampled: Path) -> None:
    out = runner.invoke(app, ["query", "SELECT * FROM steps LIMIT 5", "--home", str(sampled)], env={"COLUMNS": "80"})
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    columns = len(
        json.loads(
            runner.invoke(app, ["query", "SELECT * FROM steps LIMIT 1", "--json", "--home", str(sampled)]).stdout
        )
    )
    assert columns > 20 and len(lines) == 5 * (columns + 1) + 1  # a header line per record, the row count
    assert max(len(line) for line in lines) <= 80
    assert lines[0] == "-[ row 1 ]" and lines[1].startswith("source ")
    narrow = runner.invoke(
        app, ["query", "SELECT task, count(*) AS n FROM steps GROUP BY task", "--home", str(sampled)]
    )
    assert "┃ task ┃" in narrow.stdout.replace(" n ", "")  # a table still, when it fits


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "form", "--steps", "0"], "error: Invalid value for '--steps'"),
        (["train", "form", "--lr", "-1"], "error: --lr -1.0: expected `float` > 0.0"),
        (["train", "--demo", "nope", "--unverified"], "error: no such demo: nope"),
        (
            ["export", "--strategy", "sdft", "--out", "missing/dir/sdft.jsonl"],
            "error: cannot write missing/dir/sdft.jsonl",
        ),
        (["export", "--strategy", "everything"], "error: Invalid value: --strategy is one of"),
    ],
)
def test_bad_arguments_are_one_error_line_and_write_nothing(
    sampled: Path,
    model_dir: Path,
    tree_bytes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    before = tree_bytes(sampled)
    extra = ["--model", str(model_dir)] if args[0] == "train" else []
    result = runner.invoke(app, [*args, *extra, "--home", str(sampled)])
    assert result.exit_code != 0
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert tree_bytes(sampled) == before and not any(tmp_path.iterdir())


def test_training_logs_progress_lines_and_reports_json(sampled: Path, model_dir: Path) -> None:
    args = ["train", "form", "--objective", "sft", "--unverified", "--steps", "2", "--batch-size", "2"]
    args += ["--model", str(model_dir)]
    result = runner.invoke(app, [*args, "--json", "--home", str(sampled)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["steps"]) == 2 and Path(report["peft_path"]).is_dir()
    progress = [line for line in result.stderr.splitlines() if ": step " in line]
    assert [line.split(": step ")[1].split()[0] for line in progress] == ["1/2", "2/2"]
    assert re.search(r"loss \d+\.\d{4}  KL (\d+\.\d{4}|nan)  \d+ tok/s  \(\d+ s\)$", progress[-1])
    with Projections(Store.open(sampled, readonly=True)) as projections:
        [adapter] = projections.query("SELECT DISTINCT name FROM adapters").to_pylist()
    assert report["adapter"] == adapter["name"]


def test_ctrl_c_records_the_job_cancelled_and_says_how_to_resume(
    sampled: Path, model_dir: Path, tmp_path: Path
) -> None:
    home = tmp_path / "store"
    subprocess.run(["cp", "-a", str(sampled), str(home)], check=True)
    args = ["train", "form", "--objective", "sft", "--unverified", "--steps", "200", "--batch-size", "1"]
    args += ["--model", str(model_dir)]
    proc = _traj(*args, "--home", str(home))
    assert proc.stdout is not None
    first = proc.stdout.readline()  # off a terminal the first step prints at once
    assert ": step 1/200" in first, first
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted: the job is recorded as cancelled" in stderr
    assert stderr.strip().endswith("traj train form --resume latest")
    assert "Warning" not in stderr  # transformers' and torch's deprecation notices are filtered
    with Projections(Store.open(home, readonly=True)) as projections:
        jobs = projections.query("SELECT status FROM train_runs").to_pylist()
    assert [job["status"] for job in jobs].count("cancelled") == 1


def test_every_environment_variable_traj_reads_is_in_the_readme_and_its_commands_help() -> None:
    read = set()
    for path in (ROOT / "traj").rglob("*.py"):
        read |= set(re.findall(r"environ(?:\.get)?[(\[]\"([A-Z_]+)\"", path.read_text()))
    read.add("TRAJ_SECRET_<NAME>")
    documented = {v.name for v in ENVIRONMENT}
    assert read <= documented, read - documented
    readme = (ROOT / "README.md").read_text()
    assert [v.name for v in ENVIRONMENT if f"`{v.name}`" not in readme] == []
    for variable in ENVIRONMENT:
        for command in variable.commands:
            if command != "every command":
                helped = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
                assert variable.name in helped, (variable.name, command)
    assert all(v.name in runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).stdout for v in ENVIRONMENT)


def test_replay_eval_and_run_report_json(tmp_path: Path, model_dir: Path) -> None:
    home = ["--home", str(tmp_path / "store")]
    recorded = runner.invoke(app, ["record", "--site", "expense", "--script", "bundled", "--headless", *home])
    assert recorded.exit_code == 0, recorded.output
    [demo] = [json.loads(line) for line in runner.invoke(app, ["demos", "--json", *home]).stdout.splitlines()]
    replayed = runner.invoke(app, ["replay", demo["demo_id"], "--headless", "--json", *home])
    assert replayed.exit_code == 0, replayed.output
    result = json.loads(replayed.stdout)
    assert result["demo_id"] == demo["demo_id"] and [s["status"] for s in result["steps"]] == ["ok"] * demo["steps"]
    evaluated = json.loads(runner.invoke(app, ["eval", "expense", "--seeds", "1..1", "--json", *home]).stdout)
    assert list(evaluated["results"]) == ["1"] and evaluated["task_success_rate"] in (0.0, 1.0)
    ran = runner.invoke(
        app,
        [
            "run",
            "--task",
            "expense",
            "--agent-only",
            "--model",
            str(model_dir),
            "--max-steps",
            "1",
            "--headless",
            "--json",
            *home,
        ],
    )
    report = json.loads(ran.stdout)  # the untrained model fails the task: exit 1, the report all the same
    assert ran.exit_code == 1 and len(report["steps"]) == 1 and report["run_id"] in ran.stderr + ran.stdout
