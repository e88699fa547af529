"""``pip install .`` is a light core: a fresh environment (no system site packages) answers
``traj query``, ``traj stats`` and ``traj export`` on a store and serves ``traj view``, and a command that needs
an extra says which one to install instead of failing on an import."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from traj.eventlog import Store, store_stats

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "peft", "playwright", "mlx", "mlx-lm", "openai", "httpx", "tokenizers", "llguidance")


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` of a fresh virtual environment holding ``pip install .`` and nothing else."""
    venv = tmp_path_factory.mktemp("core") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, str(ROOT)], check=True, timeout=600, env=_env(), capture_output=True)
    return venv / "bin"


def _env() -> dict[str, str]:
    # The worktree must not leak in: the installed copy is what runs.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {"COLUMNS": "200"}


def _traj(core: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(core / "traj"), *args], capture_output=True, text=True, env=_env(), cwd=cwd, timeout=120)


def test_the_core_holds_no_model_browser_or_http_client_library(core: Path) -> None:
    listed = subprocess.run(
        [str(core / "python"), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True, env=_env()
    )
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "traj" in installed and "duckdb" in installed
    assert installed.isdisjoint(HEAVY), installed & set(HEAVY)


def test_the_core_answers_query_stats_and_export_on_a_store(core: Path, tmp_path: Path) -> None:
    home = str(tmp_path / "store")
    assert _traj(core, "sample", "--home", home, "--demos", "3", "--steps", "2", cwd=tmp_path).returncode == 0
    query = _traj(
        core, "query", "SELECT task, count(*) AS n FROM demos GROUP BY task", "--json", "--home", home, cwd=tmp_path
    )
    assert query.returncode == 0, query.stderr
    assert [json.loads(line) for line in query.stdout.splitlines()] == [{"task": "form", "n": 3}]
    stats = _traj(core, "stats", "--json", "--home", home, cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    with Store.open(home, readonly=True) as store:
        expected = store_stats(store)
    assert json.loads(stats.stdout)["by_type"] == expected.by_type and expected.events > 0
    exported = _traj(core, "export", "--strategy", "sdft", "--out", "sdft.jsonl", "--home", home, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert len((tmp_path / "sdft.jsonl").read_text().splitlines()) == 3 * (2 + 1), "each demo's steps and its FINISH"


def test_the_core_serves_the_viewer(core: Path, tmp_path: Path) -> None:
    home = str(tmp_path / "store")
    assert _traj(core, "sample", "--home", home, "--demos", "1", cwd=tmp_path).returncode == 0
    view = subprocess.Popen(
        [str(core / "traj"), "view", "--home", home, "--port", "0", "--no-open"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    try:
        assert view.stdout is not None
        url = re.search(r"http://127\.0\.0\.1:\d+", view.stdout.readline())
        assert url, view.stderr.read() if view.stderr else ""
        with urllib.request.urlopen(url.group(0) + "/", timeout=30) as page:
            assert page.status == 200
    finally:
        view.terminate()
        view.wait(timeout=30)


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["record", "--site", "expense", "--headless"], "browser"),
        (["train", "form", "--unverified"], "train"),
        (["serve", "--port", "0"], "train"),
    ],
)
def test_a_command_without_its_extra_says_what_to_install(
    core: Path, tmp_path: Path, args: list[str], extra: str
) -> None:
    home = str(tmp_path / "store")
    assert _traj(core, "sample", "--home", home, "--demos", "1", cwd=tmp_path).returncode == 0
    result = _traj(core, *args, "--home", home, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: traj {args[0]} needs ") and result.stderr.count("\n") == 1, result.stderr
    assert f"pip install 'traj[{extra}]'" in result.stderr
