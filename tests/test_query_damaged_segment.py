"""``traj query`` over a store with a damaged segment: a partial answer is an error unless asked for.

The damaged segment's rows are left out of every view, so any answer is partial. Printing it
and exiting 0 let a script take it for the whole log; the command fails instead, naming the
segment, and ``--allow-partial`` prints the healthy rows with a warning.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from traj.cli import app
from traj.eventlog import Store
from traj.sample import write_sample_demos

runner = CliRunner()
SQL = "SELECT demo_id FROM demos ORDER BY position"


def query(home: Path, *args: object) -> Result:
    """``traj query SQL --home HOME ARGS`` in process; a raw exception fails the test."""
    result = runner.invoke(app, ["query", SQL, "--home", str(home), *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def damaged(home: Path) -> tuple[Path, str, list[str], list[str]]:
    """A store of three demos, the first in a segment with flipped bytes, the second sealed, the
    third in the WAL; returns (home, damaged segment file, damaged demo ids, healthy demo ids)."""
    with Store.open(home) as store:
        lost = write_sample_demos(store, 1, steps=2, seed=1)
        segment = store.seal()
        kept = write_sample_demos(store, 1, steps=2, seed=2)
        store.seal()
        kept += write_sample_demos(store, 1, steps=2, seed=3)
    assert segment is not None
    path = home / "segments" / segment.file
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 16] = bytes(b ^ 0xFF for b in data[len(data) // 2 : len(data) // 2 + 16])
    path.write_bytes(bytes(data))
    return home, segment.file, lost, kept


@pytest.mark.parametrize("output", [["--json"], ["--csv"], [], ["--parquet", "out.parquet"]], ids=str)
def test_query_over_a_damaged_segment_exits_1_naming_it_and_prints_no_rows(damaged, output, tmp_path, monkeypatch):
    home, segment, _, _ = damaged
    monkeypatch.chdir(tmp_path)
    result = query(home, *output)
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert segment in line
    assert "--allow-partial" in line
    assert not (tmp_path / "out.parquet").exists()


def test_allow_partial_prints_the_healthy_rows_as_json_with_a_warning_and_exits_0(damaged):
    home, segment, _, kept = damaged
    result = query(home, "--json", "--allow-partial")
    assert result.exit_code == 0
    assert [json.loads(line)["demo_id"] for line in result.stdout.splitlines()] == kept
    [warning] = result.stderr.splitlines()
    assert warning.startswith("warning: ")
    assert segment in warning


def test_allow_partial_prints_the_healthy_rows_as_a_table_with_a_warning_and_exits_0(damaged):
    home, segment, lost, kept = damaged
    result = query(home, "--allow-partial")
    assert result.exit_code == 0
    assert all(demo_id in result.stdout for demo_id in kept)
    assert not any(demo_id in result.stdout for demo_id in lost)
    [warning] = result.stderr.splitlines()
    assert warning.startswith("warning: ")
    assert segment in warning
