"""The ``traj`` command line: sample, stats, compact, verify and query, against real stores.

Most tests drive ``traj.cli.app`` in process with Typer's CliRunner; ``test_console_script_*``
and the live-writer test run the installed ``traj`` script in a subprocess, as a user would. Every result is checked
against the Python API (``traj.Projections`` over a read-only ``traj.Store``), not against
a copy of the CLI's own output.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

import traj
from traj.cli import app
from traj.eventlog import NewEvent, Observation, Store
from traj.sample import write_sample_demos

runner = CliRunner()

VIEWS = (
    "events",
    "observations",
    "actions",
    "steps",
    "demos",
    "runs",
    "run_steps",
    "replay_steps",
    "replays",
    "enrichment_attempts",
    "enrichments",
    "feedback",
    "train_runs",
    "kl_metrics",
    "adapters",
    "lineage",
    "sdft_examples",
    "sft_pairs",
    "preference_pairs",
    "decisions",
    "decision_pairs",
    "run_decisions",
    "improvement_jobs",
    "improvement_runs",
    "specialist_history",
    "specialists",
    "task_adapters",
)

# ---------------------------------------------------------------- helpers


def cli(*args: object, env: dict[str, str] | None = None) -> Result:
    """Invoke ``traj ARGS`` in process; any exception other than a clean exit fails the test."""
    result = runner.invoke(app, [str(a) for a in args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        exc = result.exception
        pytest.fail(f"traj {' '.join(map(str, args))} raised {type(exc).__name__}: {exc} (a traceback for the user)")
    return result


def ok(*args: object, env: dict[str, str] | None = None) -> Result:
    """Invoke ``traj ARGS`` and require exit status 0."""
    result = cli(*args, env=env)
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def api(home: Path, sql: str, *, as_of: int | None = None) -> pa.Table:
    """The Python API's answer to ``sql``: the reference every CLI output is checked against."""
    with traj.Projections(traj.Store.open(home, readonly=True), as_of=as_of) as projections:
        return projections.query(sql)


def scalar(home: Path, sql: str, **kwargs: object) -> object:
    """The single value of a one-row, one-column query through the API."""
    table = api(home, sql, **kwargs)
    assert table.shape == (1, 1), table
    return table.column(0)[0].as_py()


def json_rows(result: Result) -> list[dict[str, object]]:
    """Parse ``--json`` output: one JSON object per line, nothing else on stdout."""
    return [json.loads(line) for line in result.stdout.splitlines()]


def from_json(value: object, reference: object) -> object:
    """Bring a JSON value back to the Python type the API returned, where JSON has none."""
    if isinstance(reference, dt.datetime) and isinstance(value, str):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(reference, Decimal) and value is not None:
        return Decimal(str(value))
    return value


def assert_one_line_error(result: Result, *needles: str) -> str:
    """Failed with status 1, nothing on stdout, one ``error:`` line on stderr holding ``needles``."""
    assert result.exit_code == 1, f"exit {result.exit_code}: {result.stdout}{result.stderr}"
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert "Traceback" not in result.output
    return lines[0]


def flip_middle_byte(path: Path) -> None:
    """Bit rot: invert one byte in the middle of ``path`` (same size, same footer)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def segment_files(home: Path) -> list[Path]:
    return sorted((home / "segments").glob("*.parquet"))


def wal_files(home: Path) -> list[Path]:
    return sorted((home / "wal").glob("*.arrow"))


def by_type_table(stdout: str) -> dict[str, int]:
    """The ``type | events`` rows of ``traj stats`` (unicode or ASCII box drawing)."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line)]
        if len(cells) == 4 and re.fullmatch(r"[a-z][a-z_.]*", cells[1]) and re.fullmatch(r"[\d,]+", cells[2]):
            rows[cells[1]] = int(cells[2].replace(",", ""))
    return rows


def summary_value(stdout: str, key: str) -> str:
    """The value next to ``key`` in the summary grid of ``traj stats``."""
    match = re.search(rf"^{key}\s+(.+?)\s*$", stdout, re.MULTILINE)
    assert match, f"no {key!r} row in:\n{stdout}"
    return match.group(1)


def traj_command() -> list[str]:
    """The installed ``traj`` console script of this interpreter (else the one on PATH)."""
    beside = Path(sys.executable).with_name("traj")
    script = str(beside) if beside.exists() else shutil.which("traj")
    if script is None:
        pytest.fail("the traj console script is not installed (pip install -e . --no-deps)")
    return [script]


def run_traj(*args: object, timeout: float = 30, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``traj`` console script in a subprocess, output captured."""
    environ = {k: v for k, v in os.environ.items() if k not in {"TRAJ_HOME", "FORCE_COLOR"}}
    environ |= {"NO_COLOR": "1", "COLUMNS": "200"} | env
    return subprocess.run(
        [*traj_command(), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=environ
    )


# ---------------------------------------------------------------- a shared store (read-only tests)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with a sealed segment (3 demos) and an unsealed WAL tail (2 more), made by the CLI.

    Tests using it must not change it.
    """
    home = tmp_path_factory.mktemp("mixed") / "store"
    for args in (["sample", "--demos", "3"], ["compact"], ["sample", "--demos", "2", "--seed", "100"]):
        result = runner.invoke(app, [*args, "--home", str(home)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    assert len(segment_files(home)) == 1
    assert len(wal_files(home)) == 1
    return home


# ---------------------------------------------------------------- sample


SAMPLE_LINE = re.compile(r"^(\d+) sample demonstrations in (.+) \(([\d,]+) events\)$", re.MULTILINE)


def test_sample_creates_a_store_holding_what_it_reports(tmp_path: Path) -> None:
    home = tmp_path / "fresh" / "store"
    result = ok("sample", "--home", home, "--demos", 4, "--steps", 3)
    match = SAMPLE_LINE.search(result.stdout)
    assert match, result.stdout
    demos, where, events = int(match[1]), Path(match[2]), int(match[3].replace(",", ""))
    assert demos == 4
    assert where == home
    assert (home / "manifest.json").exists() or wal_files(home)

    count = json_rows(ok("query", "SELECT count(*) AS n FROM demos", "--home", home, "--json"))
    assert count == [{"n": 4}]
    assert json_rows(ok("query", "SELECT count(*) AS n FROM events", "--home", home, "--json")) == [{"n": events}]
    assert scalar(home, "SELECT count(*) FROM events") == events
    rows = api(home, "SELECT steps, source, success FROM demos").to_pylist()
    assert rows == [{"steps": 3, "source": "script", "success": True}] * 4
    assert scalar(home, "SELECT count(*) FROM sdft_examples") == 4 * 3


def test_sample_appends_and_reports_the_events_it_added(tmp_path: Path) -> None:
    home = tmp_path / "store"
    first = SAMPLE_LINE.search(ok("sample", "--home", home, "--demos", 2).stdout)
    second = SAMPLE_LINE.search(ok("sample", "--home", home, "--demos", 3, "--seed", 9).stdout)
    assert first and second
    assert int(first[3]) + int(second[3]) == scalar(home, "SELECT count(*) FROM events")
    assert int(second[3]) > int(first[3])
    assert scalar(home, "SELECT count(DISTINCT demo_id) FROM demos") == 5
    assert ok("verify", "--home", home).exit_code == 0


# ---------------------------------------------------------------- where the store is (--home, TRAJ_HOME, ./.traj)


def test_traj_home_env_var_names_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "from-env"
    ok("sample", "--demos", 2, env={"TRAJ_HOME": str(home)})
    assert home.is_dir()
    assert not (tmp_path / ".traj").exists()
    result = ok("query", "SELECT count(*) AS n FROM demos", "--json", env={"TRAJ_HOME": str(home)})
    assert json_rows(result) == [{"n": 2}]
    assert summary_value(ok("stats", env={"TRAJ_HOME": str(home)}).stdout, "store") == str(home)


def test_home_option_wins_over_traj_home(tmp_path: Path) -> None:
    env_home, option_home = tmp_path / "env", tmp_path / "option"
    ok("sample", "--demos", 1, env={"TRAJ_HOME": str(env_home)})
    ok("sample", "--demos", 3, "--home", option_home, env={"TRAJ_HOME": str(env_home)})
    assert scalar(env_home, "SELECT count(*) FROM demos") == 1
    assert scalar(option_home, "SELECT count(*) FROM demos") == 3
    result = ok(
        "query", "SELECT count(*) AS n FROM demos", "--json", "--home", option_home, env={"TRAJ_HOME": str(env_home)}
    )
    assert json_rows(result) == [{"n": 3}]


@pytest.mark.parametrize("traj_home", [None, ""], ids=["unset", "empty"])
def test_default_home_is_dot_traj_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, traj_home: str | None
) -> None:
    monkeypatch.chdir(tmp_path)
    env = None if traj_home is None else {"TRAJ_HOME": traj_home}
    ok("sample", "--demos", 2, env=env)
    assert (tmp_path / ".traj").is_dir()
    assert scalar(tmp_path / ".traj", "SELECT count(*) FROM demos") == 2
    assert json_rows(ok("query", "SELECT count(*) AS n FROM demos", "--json", env=env)) == [{"n": 2}]


# ---------------------------------------------------------------- stats


def test_stats_counts_match_the_store(mixed: Path) -> None:
    result = ok("stats", "--home", mixed)
    reader = Store.open(mixed, readonly=True)
    table = reader.read(columns=["type", "stream"])
    expected = collections.Counter(table["type"].to_pylist())
    assert by_type_table(result.stdout) == dict(expected)
    assert summary_value(result.stdout, "events") == f"{table.num_rows:,}"
    assert summary_value(result.stdout, "streams") == str(len(set(table["stream"].to_pylist())))
    assert summary_value(result.stdout, "segments").startswith("1 (")
    tail = reader.snapshot().tail.num_rows
    assert tail > 0
    assert summary_value(result.stdout, "WAL").startswith(f"1 file(s), {tail} unsealed events")
    assert summary_value(result.stdout, "blobs") == "0 (0 B)"
    assert summary_value(result.stdout, "store") == str(mixed)
    assert result.stderr == ""


def test_stats_counts_blobs(tmp_path: Path) -> None:
    home = tmp_path / "store"
    with Store.open(home) as store:
        digests = [store.put_blob(b"png %d" % i) for i in range(3)]
        store.append(
            "demo/d1",
            [NewEvent(data=Observation(url="http://a.test/", screenshot=d), blobs=(d,)) for d in digests],
            expected_seq=0,
        )
    result = ok("stats", "--home", home)
    assert summary_value(result.stdout, "blobs").startswith("3 (")
    assert by_type_table(result.stdout) == {"observation": 3}


# ---------------------------------------------------------------- compact


def test_compact_seals_the_wal_and_merges_segments_without_changing_data(tmp_path: Path) -> None:
    home = tmp_path / "store"
    for seed in range(3):  # three segments: --merge-rows 1 seals without merging
        ok("sample", "--home", home, "--demos", 1, "--seed", seed)
        assert "0 merge(s)" in ok("compact", "--home", home, "--merge-rows", 1).stdout
    ok("sample", "--home", home, "--demos", 2, "--seed", 50)  # and a WAL tail
    assert len(segment_files(home)) == 3
    assert len(wal_files(home)) == 1
    events_before = api(home, "SELECT * FROM events ORDER BY position")
    examples_before = api(home, "SELECT * FROM sdft_examples ORDER BY position")

    result = ok("compact", "--home", home)

    assert f"3 segment(s) -> 1 (1 merge(s)); {events_before.num_rows:,} events" in result.stdout
    assert len(segment_files(home)) == 1
    assert wal_files(home) == []
    manifest = json.loads((home / "manifest.json").read_text())
    assert [s["file"] for s in manifest["segments"]] == [p.name for p in segment_files(home)]
    assert manifest["segments"][0]["rows"] == events_before.num_rows
    assert api(home, "SELECT * FROM events ORDER BY position").equals(events_before)
    assert api(home, "SELECT * FROM sdft_examples ORDER BY position").equals(examples_before)
    stats = ok("stats", "--home", home).stdout
    assert summary_value(stats, "WAL").startswith("0 file(s), 0 unsealed events")
    assert ok("verify", "--home", home).exit_code == 0

    again = ok("compact", "--home", home)  # nothing left to do
    assert "1 segment(s) -> 1 (0 merge(s))" in again.stdout
    assert api(home, "SELECT * FROM events ORDER BY position").equals(events_before)


def test_compact_merge_rows_bounds_the_merged_segments(tmp_path: Path) -> None:
    home = tmp_path / "store"
    for seed in range(4):
        ok("sample", "--home", home, "--demos", 1, "--seed", seed)
        ok("compact", "--home", home, "--merge-rows", 0)
    rows = [s["rows"] for s in json.loads((home / "manifest.json").read_text())["segments"]]
    assert len(rows) == 4
    assert len(set(rows)) == 1
    before = api(home, "SELECT * FROM events ORDER BY position")

    result = ok("compact", "--home", home, "--merge-rows", 2 * rows[0])

    assert "4 segment(s) -> 2 (2 merge(s))" in result.stdout
    merged = json.loads((home / "manifest.json").read_text())["segments"]
    assert [s["rows"] for s in merged] == [2 * rows[0]] * 2
    assert api(home, "SELECT * FROM events ORDER BY position").equals(before)


# ---------------------------------------------------------------- verify


def test_verify_healthy_store(mixed: Path) -> None:
    result = ok("verify", "--home", mixed)
    total = scalar(mixed, "SELECT count(*) FROM events")
    assert result.stdout.strip() == f"ok: {total:,} events, 1 segment(s), 1 WAL file(s), 0 blob(s) checked"
    assert result.stderr == ""


def test_verify_reports_a_corrupted_segment_by_name(tmp_path: Path) -> None:
    home = tmp_path / "store"
    ok("sample", "--home", home, "--demos", 3)
    ok("compact", "--home", home)
    [segment] = segment_files(home)
    flip_middle_byte(segment)

    result = cli("verify", "--home", home)

    assert result.exit_code == 1
    assert "ok:" not in result.stdout
    problems = [line for line in result.stderr.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1
    assert segment.name in problems[0]
    assert "sha256" in problems[0]
    assert re.search(r"^damaged: 1 problem\(s\)", result.stderr, re.MULTILINE)
    assert "Traceback" not in result.output


def test_a_corrupted_segment_is_left_out_of_queries_and_blocks_writes(tmp_path: Path) -> None:
    home = tmp_path / "store"
    ok("sample", "--home", home, "--demos", 2)
    ok("compact", "--home", home)
    [segment] = segment_files(home)
    flip_middle_byte(segment)
    damaged = segment.read_bytes()

    query = ok("query", "SELECT count(*) AS n FROM demos", "--home", home, "--json", "--allow-partial")
    assert json_rows(query) == [{"n": 0}]
    assert segment.name in query.stderr
    assert query.stderr.startswith("warning:")

    stats = cli("stats", "--home", home)
    assert f"damaged: {segment.name}" in stats.stderr

    assert_one_line_error(cli("compact", "--home", home), "refusing to merge", segment.name)
    refused = cli("sample", "--home", home, "--demos", 1)
    assert refused.exit_code == 1
    assert refused.stdout == ""
    # the last stderr line is the error (a progress line may come first)
    error = refused.stderr.splitlines()[-1]
    assert error.startswith("error: refusing to append")
    assert segment.name in error
    assert segment.read_bytes() == damaged  # nothing rewrote the evidence


def test_verify_reports_a_damaged_wal_file(tmp_path: Path) -> None:
    home = tmp_path / "store"
    ok("sample", "--home", home, "--demos", 3)
    [wal] = wal_files(home)
    flip_middle_byte(wal)

    result = cli("verify", "--home", home)

    assert result.exit_code == 1
    flat = " ".join(result.stderr.split())  # the path may be wrapped (see the wrapping test)
    assert wal.name in flat
    assert "checksum" in flat
    assert_one_line_error(cli("query", "SELECT 1", "--home", home), wal.name, "checksum")


@pytest.fixture
def blob_store(tmp_path: Path) -> tuple[Path, str]:
    """A sealed store whose observations cite a screenshot blob; returns (home, digest)."""
    home = tmp_path / "store"
    with Store.open(home) as store:
        digest = store.put_blob(b"\x89PNG fake screenshot bytes" * 100)
        shot = NewEvent(data=Observation(url="http://a.test/", screenshot=digest), blobs=(digest,))
        store.append("demo/d1", [shot], expected_seq=0)
        store.compact()
        store.append("demo/d1", [NewEvent(data=Observation(url="http://a.test/2"))], expected_seq=1)
    return home, digest


def test_verify_checks_blob_references(blob_store: tuple[Path, str]) -> None:
    home, _ = blob_store
    result = ok("verify", "--home", home)
    assert result.stdout.strip() == "ok: 2 events, 1 segment(s), 1 WAL file(s), 1 blob(s) checked"


@pytest.mark.parametrize("damage", ["rewritten", "missing"])
def test_verify_reports_a_damaged_blob(blob_store: tuple[Path, str], damage: str) -> None:
    home, digest = blob_store
    path = Store.open(home, readonly=True).blobs.path(digest)
    if damage == "rewritten":
        flip_middle_byte(path)
    else:
        path.unlink()

    result = cli("verify", "--home", home)

    assert result.exit_code == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1
    assert digest in problems[0]
    assert ("damaged" if damage == "rewritten" else "not in the store") in problems[0]


def test_verify_a_missing_store_fails(tmp_path: Path) -> None:
    home = tmp_path / "nowhere"
    result = cli("verify", "--home", home)
    assert result.exit_code == 1
    assert f"no traj store at {home}" in result.stderr
    assert not home.exists()


# ---------------------------------------------------------------- query: output formats


def test_query_json_equals_the_python_api(mixed: Path) -> None:
    for sql in (
        "SELECT * FROM demos ORDER BY position",
        "SELECT * FROM events ORDER BY position",
        "SELECT demo_id, step, context, target FROM sdft_examples ORDER BY position",
    ):
        rows = json_rows(ok("query", sql, "--home", mixed, "--json"))
        expected = api(mixed, sql).to_pylist()
        assert len(rows) == len(expected) > 0, sql
        for got, want in zip(rows, expected, strict=True):
            assert list(got) == list(want)
            assert {k: from_json(v, want[k]) for k, v in got.items()} == want


def test_query_json_of_no_rows_prints_nothing(mixed: Path) -> None:
    assert ok("query", "SELECT * FROM demos WHERE false", "--home", mixed, "--json").stdout == ""


def test_query_csv_parses_and_equals_the_python_api(mixed: Path) -> None:
    sql = "SELECT demo_id, task, goal, steps, position FROM demos ORDER BY position"
    reader = csv.DictReader(io.StringIO(ok("query", sql, "--home", mixed, "--csv").stdout))
    got = list(reader)
    expected = api(mixed, sql).to_pylist()
    assert reader.fieldnames == ["demo_id", "task", "goal", "steps", "position"]
    assert got == [{k: str(v) for k, v in row.items()} for row in expected]


def test_query_csv_keeps_multi_line_text_in_one_field(mixed: Path) -> None:
    sql = "SELECT action_id, query, context FROM sdft_examples ORDER BY position"
    got = list(csv.DictReader(io.StringIO(ok("query", sql, "--home", mixed, "--csv").stdout)))
    expected = api(mixed, sql).to_pylist()
    assert any("\n" in row["query"] for row in expected)
    assert got == expected


def test_query_parquet_reads_back_equal(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "events.parquet"
    sql = "SELECT * FROM events ORDER BY position"
    result = ok("query", sql, "--home", mixed, "--parquet", out)
    expected = api(mixed, sql)
    assert result.stdout.strip() == f"wrote {expected.num_rows} rows to {out}"
    assert pq.read_table(out).equals(expected)


def test_query_table_respects_limit(mixed: Path) -> None:
    sql = "SELECT position, type FROM events ORDER BY position"
    total = scalar(mixed, "SELECT count(*) FROM events")
    shown = ok("query", sql, "--home", mixed, "--limit", 5).stdout
    positions = [int(m) for m in re.findall(r"^[│|]\s*(\d+)\s*[│|]", shown, re.MULTILINE)]
    assert positions == [0, 1, 2, 3, 4]
    assert f"{total} rows (showing 5; use --limit 0 or --json for all)" in shown

    everything = ok("query", sql, "--home", mixed, "--limit", 0).stdout
    positions = [int(m) for m in re.findall(r"^[│|]\s*(\d+)\s*[│|]", everything, re.MULTILINE)]
    assert positions == list(range(total))
    assert everything.rstrip().endswith(f"{total} rows")

    one = ok("query", "SELECT 42 AS answer", "--home", mixed).stdout
    assert "answer" in one
    assert "42" in one
    assert one.rstrip().endswith("1 row")


def test_query_views_lists_every_view(mixed: Path) -> None:
    result = ok("query", "--views", "--home", mixed)
    listed = [line.split()[0] for line in result.stdout.splitlines() if line and not line[0].isspace()]
    with traj.Projections(traj.Store.open(mixed, readonly=True)) as projections:
        assert listed == list(projections.views())
    assert set(listed) == set(VIEWS)


# ---------------------------------------------------------------- query: --as-of


def test_query_as_of_rebuilds_the_log_as_it_was(mixed: Path) -> None:
    total = scalar(mixed, "SELECT count(*) FROM events")
    demo_starts = api(mixed, "SELECT position FROM events WHERE type = 'demo.started' ORDER BY position")
    second_demo = demo_starts["position"][1].as_py()
    sql = (
        "SELECT (SELECT count(*) FROM events) AS events, (SELECT max(position) FROM events) AS last, "
        "(SELECT count(*) FROM demos) AS demos"
    )
    for as_of, demos in [(0, 0), (1, 1), (second_demo, 1), (second_demo + 1, 2), (total + 100, 5)]:
        rows = json_rows(ok("query", sql, "--home", mixed, "--as-of", as_of, "--json"))
        seen = min(as_of, total)
        assert rows == [{"events": seen, "last": seen - 1 if seen else None, "demos": demos}], as_of


def test_query_as_of_equals_the_python_api(mixed: Path) -> None:
    sealed = json.loads((mixed / "manifest.json").read_text())["segments"][0]["rows"]
    sql = "SELECT demo_id, step, target, position FROM sdft_examples ORDER BY position"
    for as_of in (sealed - 5, sealed + 7):  # inside the segment, inside the WAL tail
        rows = json_rows(ok("query", sql, "--home", mixed, "--as-of", as_of, "--json"))
        assert rows == api(mixed, sql, as_of=as_of).to_pylist()
        assert rows != api(mixed, sql).to_pylist()
        assert all(row["position"] < as_of for row in rows)


# ---------------------------------------------------------------- query: errors


@pytest.mark.parametrize(
    ("sql", "needles"),
    [
        ("SELEC * FROM demos", ["syntax error"]),
        ("SELECT * FROM no_such_view", ["no_such_view"]),
        ("SELECT no_such_column FROM demos", ["no_such_column"]),
        ("DELETE FROM events", ["only SELECT", "DELETE"]),
        ("DROP VIEW demos", ["only SELECT", "DROP"]),
        ("CREATE TABLE t AS SELECT 1", ["only SELECT", "CREATE"]),
        ("COPY events TO 'out.csv'", ["only SELECT", "COPY"]),
        ("ATTACH 'other.db'", ["only SELECT", "ATTACH"]),
        ("SELECT 1; DELETE FROM events", ["exactly one SQL statement"]),
        ("SELECT * FROM read_csv('/etc/passwd')", ["/etc/passwd"]),
    ],
    ids=["bad-syntax", "unknown-view", "unknown-column", "delete", "drop", "create", "copy", "attach", "two", "file"],
)
def test_query_errors_are_one_line_without_traceback(mixed: Path, sql: str, needles: list[str], tree_bytes) -> None:
    files = tree_bytes(mixed)
    assert_one_line_error(cli("query", sql, "--home", mixed), *needles)
    assert tree_bytes(mixed) == files  # a refused statement touched nothing


def test_query_a_missing_store_fails_and_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "missing"
    assert_one_line_error(cli("query", "SELECT 1", "--home", home), f"no traj store at {home}")
    assert_one_line_error(cli("stats", "--home", home), f"no traj store at {home}")
    assert not home.exists()


def test_query_without_sql_asks_for_it(mixed: Path) -> None:
    result = cli("query", "--home", mixed)
    assert result.exit_code == 2  # a usage error
    assert result.stdout == ""
    assert "give a SQL statement" in result.stderr
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- query beside a live writer


def test_query_reads_while_another_store_holds_the_writer(tmp_path: Path) -> None:
    home = tmp_path / "store"
    with Store.open(home, seal_bytes=40_000) as writer:  # small seals: segments appear mid-test
        write_sample_demos(writer, 1)
        seen = [json_rows(ok("query", "SELECT count(*) AS n FROM demos", "--home", home, "--json"))[0]["n"]]
        assert seen == [1]

        stop = threading.Event()
        written = [1]
        failures: list[BaseException] = []

        def keep_appending() -> None:  # until the reader has made its point
            try:
                while not stop.is_set():
                    write_sample_demos(writer, 1, seed=written[0])
                    written[0] += 1
                    time.sleep(0.02)
            except BaseException as exc:
                failures.append(exc)

        thread = threading.Thread(target=keep_appending)
        thread.start()
        sql = (
            "SELECT (SELECT count(*) FROM demos) AS demos, "
            "(SELECT count(*) FROM events WHERE type = 'demo.started') AS started, "
            "(SELECT count(*) FROM events) AS events, (SELECT max(position) + 1 FROM events) AS ends"
        )
        try:
            for _ in range(4):
                [row] = json_rows(ok("query", sql, "--home", home, "--json"))
                assert row["demos"] == row["started"]  # one consistent snapshot
                assert row["events"] == row["ends"]  # no position missing or repeated
                assert row["demos"] >= seen[-1]
                seen.append(row["demos"])
        finally:
            stop.set()
            thread.join()
        assert failures == []
        assert seen[-1] > seen[1] > 1, f"the queries should have seen appends land: {seen}"
        assert segment_files(home), "the writer should have sealed while we read"
        assert wal_files(home), "and kept appending to a fresh WAL"

        total = written[0]
        final = json_rows(ok("query", "SELECT count(*) AS n FROM demos", "--home", home, "--json"))
        assert final == [{"n": total}]
        assert ok("verify", "--home", home).exit_code == 0

        # the writer lock refuses a second writer with one line naming the holder
        pid = str(os.getpid())
        assert_one_line_error(cli("compact", "--home", home), "already open for writing", pid)
        # and a real second process reads fine beside it
        other = run_traj("query", "SELECT count(*) AS n FROM demos", "--home", home, "--json")
        assert other.returncode == 0, other.stderr
        assert json.loads(other.stdout) == {"n": total}
        locked = run_traj("sample", "--home", home, "--demos", 1)
        assert locked.returncode == 1
        assert f"already open for writing by process {pid}" in locked.stderr
        assert "Traceback" not in locked.stderr


# ---------------------------------------------------------------- the installed console script


def test_console_script_answers_help() -> None:
    """What keeps it quick is tested below (no heavy library imported), not a stopwatch."""
    result = run_traj("--help", timeout=20)
    assert result.returncode == 0, result.stderr
    for command in ("query", "stats", "compact", "verify", "sample"):
        assert re.search(rf"^\W*{command}\s", result.stdout, re.MULTILINE), result.stdout


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from traj.cli import app\n"
        "for args in (['--help'], ['query', '--help'], ['verify', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
        "print(sorted(m for m in ('duckdb', 'pyarrow', 'torch', 'playwright') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_console_script_end_to_end(tmp_path: Path) -> None:
    home = tmp_path / "store"
    made = run_traj("sample", "--demos", 3, TRAJ_HOME=str(home))
    assert made.returncode == 0, made.stderr
    match = SAMPLE_LINE.search(made.stdout)
    assert match
    assert int(match[1]) == 3

    sql = "SELECT demo_id, steps FROM demos ORDER BY position"
    query = run_traj("query", sql, "--json", TRAJ_HOME=str(home))
    assert query.returncode == 0, query.stderr
    assert [json.loads(line) for line in query.stdout.splitlines()] == api(home, sql).to_pylist()

    verified = run_traj("verify", "--home", home)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith(f"ok: {match[3]} events, 0 segment(s), 1 WAL file(s)")


def test_console_script_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    result = run_traj("query", "SELECT 1", "--home", missing)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"error: no traj store at {missing} (create one by appending, or set TRAJ_HOME)"
    ]
    assert not missing.exists()


# ---------------------------------------------------------------- regressions of bugs found by these tests


def test_query_csv_of_a_list_column(mixed: Path) -> None:
    result = cli("query", "SELECT position, blobs FROM events ORDER BY position", "--home", mixed, "--csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == scalar(mixed, "SELECT count(*) FROM events")


def test_query_parquet_to_a_missing_directory_is_one_line(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir" / "out.parquet"
    assert_one_line_error(cli("query", "SELECT 1", "--home", mixed, "--parquet", out), str(out))


def test_verify_problem_is_one_unwrapped_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "store"
    ok("sample", "--home", home, "--demos", 2)
    ok("compact", "--home", home)
    [segment] = segment_files(home)
    flip_middle_byte(segment)
    monkeypatch.setenv("COLUMNS", "80")  # what rich assumes when output is piped to a file or grep
    result = cli("verify", "--home", home)
    assert result.exit_code == 1
    problem = next(line for line in result.stderr.splitlines() if line.startswith("problem:"))
    assert problem == f"problem: segment {segment.name} fails its sha256 checksum"


def test_compact_of_a_missing_store_fails(tmp_path: Path) -> None:
    home = tmp_path / "typo"
    result = cli("compact", "--home", home)
    assert not home.exists()
    assert_one_line_error(result, "no traj store at")


def test_query_json_sums_are_numbers(mixed: Path) -> None:
    [row] = json_rows(ok("query", "SELECT sum(seq) AS total FROM events", "--home", mixed, "--json"))
    assert row["total"] == int(scalar(mixed, "SELECT sum(seq) FROM events"))


def test_python_dash_m_traj() -> None:
    result = subprocess.run([sys.executable, "-m", "traj", "--help"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr


def test_verify_prints_a_long_wal_problem_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "store"
    ok("sample", "--home", home, "--demos", 2)
    [wal] = sorted((home / "wal").glob("*.arrow"))
    flip_middle_byte(wal)
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("verify", "--home", home)
    assert result.exit_code == 1
    problem = next(line for line in result.stderr.splitlines() if line.startswith("problem:"))
    assert len(problem) > 80
    assert wal.name in problem
    assert "byte" in problem
