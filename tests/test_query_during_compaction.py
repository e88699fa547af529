"""Readers beside a writer process that compacts: merged-away segments are deleted under them.

A compaction lists the merged segment in the manifest, then deletes the files it replaces.
A reader that took its snapshot just before still names those files when DuckDB opens them.
Every query, ``Projections`` construction and materialised-table refresh here must give a
complete, consistent answer all the same (or, at worst, a traj error), never a raw DuckDB
``IOException`` or a segment wrongly reported as damaged.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import compacting_writer
from traj.cli import app
from traj.errors import QueryError
from traj.eventlog import Store
from traj.projections import Projections
from traj.sample import write_sample_demos

WRITER = Path(__file__).with_name("compacting_writer.py")
ROUNDS = 4
MAX_ROUNDS = 400
CONSISTENCY = (
    "SELECT count(*) AS events, count(DISTINCT position) AS positions, coalesce(max(position) + 1, 0) AS ends, "
    "(SELECT count(*) FROM demos) AS demos, (SELECT count(*) FROM events WHERE type = 'demo.started') AS started, "
    "(SELECT count(DISTINCT stream) FROM sdft_examples) AS taught FROM events"
)


def assert_consistent(row: dict[str, int]) -> None:
    """One whole snapshot: every position once, none missing, every demo in ``demos``, ``events`` and the
    materialised ``sdft_examples``."""
    assert row["events"] == row["positions"] == row["ends"], row
    assert row["demos"] == row["started"] == row["taught"] > 0, row


@pytest.fixture
def compacting(home: Path) -> Iterator[subprocess.Popen[str]]:
    """A writer process over ``home`` sealing continuously and merging segments away twice a second."""
    with compacting_writer(home, 0.5) as writer:
        yield writer


def compactions(writer: subprocess.Popen[str]) -> list[str]:
    """The writer's ``compacted`` lines, collected by a thread as it prints them."""
    seen: list[str] = []

    def collect() -> None:
        assert writer.stdout is not None
        for line in writer.stdout:
            if line.strip() == "compacted":
                seen.append(line)

    threading.Thread(target=collect, daemon=True).start()
    return seen


def stop(writer: subprocess.Popen[str]) -> None:
    """Stop the writer, which must not have failed on its own."""
    writer.kill()
    writer.wait()
    assert writer.stderr is not None
    err = writer.stderr.read()
    assert "Traceback" not in err, err


def test_queries_projections_and_materialised_tables_survive_a_compacting_writer(home, compacting):
    runner = CliRunner()
    compacted = compactions(compacting)
    with Projections(Store.open(home, readonly=True)) as follower:
        rounds = 0
        while rounds < ROUNDS or len(compacted) < 3:  # reads beside at least three compactions, however fast
            assert rounds < MAX_ROUNDS, "the writer did not compact under the reads"
            rounds += 1
            # a fresh reader: opens the store, builds the views and the materialised table, queries
            result = runner.invoke(app, ["query", CONSISTENCY, "--home", str(home), "--json"])
            assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
            assert (result.exit_code, result.stderr) == (0, "")  # no segment merged away reported damaged
            assert_consistent(json.loads(result.stdout))
            # a long-lived reader: follows the manifest, updates its materialised table in place
            assert_consistent(follower.query(CONSISTENCY).to_pylist()[0])
            assert follower.damaged == {}

        stop(compacting)
        with Store.open(home, readonly=True) as reader, Projections(reader) as rebuilt:
            everything = "SELECT * FROM sdft_examples ORDER BY position"
            assert follower.query(everything).to_pylist() == rebuilt.query(everything).to_pylist()
            events = "SELECT * FROM events ORDER BY position"
            assert follower.query(events).to_pylist() == reader.read().to_pylist()


def test_a_segment_deleted_by_hand_is_a_one_line_query_error_not_a_retry_loop(home, one_line):
    with Store.open(home) as writer:
        write_sample_demos(writer, 1, steps=2, page_bytes=200)
        segment = writer.seal()
        assert segment is not None
    with Projections(Store.open(home, readonly=True)) as projections:
        (home / "segments" / segment.file).unlink()  # the manifest still lists it: damage, not a compaction
        with pytest.raises(QueryError) as raised:
            projections.query("SELECT count(*) FROM events")
    assert segment.file in one_line(raised.value)
