"""Event log benchmark: traj's Store against SQLite and a flat Parquet scan, measured in one run.

    python bench/eventlog.py            # the full spec (~1M-event projection store)
    python bench/eventlog.py --quick    # a small smoke run

Every number is a ratio against a baseline measured in the same run, on the same events:

1. batched append   Store.append, N events per call (durable: one fdatasync per call) vs SQLite
                    (WAL, synchronous=FULL, one transaction per batch). traj seals full WAL
                    files into Parquet on a background thread; the time it still needs after
                    the last append is printed beside the rate, not included in it.
2. single append    one event per Store.append call vs one SQLite transaction per event.
3. projection       the sdft_examples view through traj.projections over a sealed store vs the
                    same views (traj.projections.create_views) over ONE flat Parquet file.
4. peak RSS         of every phase (the kernel's high-water mark, reset between phases).

Both append sides start from the same pre-built payload objects (msgspec Structs) and each
pays its own encoding. traj also validates every payload and checks its stream's expected
seq and idempotency; the SQLite baseline does neither, so it is a conservative baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import string
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from traj.eventlog import (
    Action,
    BoundingBox,
    DemoFinished,
    DemoStarted,
    Element,
    Enrichment,
    EnrichmentFailed,
    NewEvent,
    Observation,
    Store,
    new_event_id,
)

TARGETS = {
    "batched_append_ratio_vs_sqlite": ">= 3.0",
    "single_append_ratio_vs_sqlite": ">= 1.0",
    "projection_vs_flat_ratio": "<= 2.0",
    "projection_seconds": "< 2.0",
}


@dataclass(frozen=True)
class Spec:
    """How much work one run does."""

    append_events: int
    """Events appended in the batched benchmark (per side, per round)."""
    batch_size: int
    """Events per append call / SQLite transaction in the batched benchmark."""
    single_events: int
    """Events appended one per call in the durable single-event benchmark."""
    projection_events: int
    """Events in the store the projection query runs over."""
    rounds: int
    """Interleaved traj/SQLite rounds of each append benchmark; the median is reported."""
    query_runs: int
    """Warm runs of each projection query after the cold one; the median is reported."""
    seed: int = 7


FULL = Spec(
    append_events=200_000, batch_size=1000, single_events=3000, projection_events=1_000_000, rounds=3, query_runs=5
)
QUICK = Spec(append_events=20_000, batch_size=1000, single_events=300, projection_events=50_000, rounds=1, query_runs=3)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every benchmark, print a table and one JSON line; exit 0 whether or not targets are met."""
    args = _parse_args(argv)
    base = QUICK if args.quick else FULL
    spec = Spec(
        append_events=args.append_events or base.append_events,
        batch_size=args.batch_size or base.batch_size,
        single_events=args.single_events or base.single_events,
        projection_events=args.events or base.projection_events,
        rounds=args.rounds or base.rounds,
        query_runs=args.runs or base.query_runs,
    )
    report = Report(spec, quick=args.quick)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5:
        report.notes.append(f"the machine was busy at the start (1-min load average {load:.1f}); timings are noisy")
    with tempfile.TemporaryDirectory(prefix="traj-bench-", dir=args.tmp_dir) as tmp:
        root = Path(tmp)
        _log(f"working in {root} ({spec})")
        bench_batched_append(root, spec, report)
        bench_single_append(root, spec, report)
        bench_projection(root, spec, report)
    report.print()
    return 0


# ---------------------------------------------------------------- 1 + 2: appends


@dataclass(frozen=True)
class Call:
    """One append call: these events to this stream at this expected seq."""

    stream: str
    seq: int
    events: list[NewEvent]


def bench_batched_append(root: Path, spec: Spec, report: Report) -> None:
    """Batched durable appends: ``batch_size`` events per Store.append vs per SQLite transaction."""
    rng = random.Random(spec.seed)
    text = TextPool(rng)
    calls = []
    for _ in range(max(1, spec.append_events // spec.batch_size)):
        demo_id = _demo_id(rng)
        calls.append(Call(f"demo/{demo_id}", 0, demo_stream(rng, text, demo_id, spec.batch_size)))
    _compare_appends(root, "batched", calls, spec, report)


def bench_single_append(root: Path, spec: Spec, report: Report) -> None:
    """Durable single-event appends: one event per Store.append vs one SQLite transaction per event."""
    rng = random.Random(spec.seed + 1)
    text = TextPool(rng)
    demo_id = _demo_id(rng)
    stream = f"demo/{demo_id}"
    events = demo_stream(rng, text, demo_id, spec.single_events)
    calls = [Call(stream, seq, [event]) for seq, event in enumerate(events)]
    _compare_appends(root, "single", calls, spec, report)


def _compare_appends(root: Path, name: str, calls: list[Call], spec: Spec, report: Report) -> None:
    events = sum(len(c.events) for c in calls)
    payload_bytes = sum(len(_ENCODER.encode(e.data)) for c in calls for e in c.events)
    sides: dict[str, Callable[[Path, list[Call]], tuple[float, float]]] = {
        "traj": traj_append,
        "sqlite": sqlite_append,
    }
    seconds: dict[str, list[float]] = {side: [] for side in sides}
    drains: list[float] = []
    for r in range(spec.rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))  # alternate who goes first
        for side in order:
            directory = root / f"{name}-{side}-{r}"
            directory.mkdir()
            gc.collect()
            with report.phase(f"{name} append ({side})"):
                elapsed, drain = sides[side](directory, calls)
            seconds[side].append(elapsed)
            if side == "traj":
                drains.append(drain)
            _log(f"{name} append {side} round {r}: {events / elapsed:,.0f} events/s")
            shutil.rmtree(directory)
    traj_rate = events / statistics.median(seconds["traj"])
    sqlite_rate = events / statistics.median(seconds["sqlite"])
    report.appends[name] = AppendResult(
        events=events,
        calls=len(calls),
        mean_payload_bytes=payload_bytes / events,
        traj_events_per_s=traj_rate,
        sqlite_events_per_s=sqlite_rate,
        traj_seal_drain_seconds=statistics.median(drains),
    )


def traj_append(directory: Path, calls: list[Call]) -> tuple[float, float]:
    """Seconds to append every call to a fresh traj store (each call durable before the next).

    Also returns the seconds the background seals still running after the last append took
    to finish: not part of the append throughput (every event is durable in the WAL by then),
    but reported so that no work is hidden.
    """
    with Store.open(directory / "store") as store:
        start = time.perf_counter()
        for call in calls:
            store.append(call.stream, call.events, expected_seq=call.seq)
        elapsed = time.perf_counter() - start
        store.wait_for_seals()
        return elapsed, time.perf_counter() - start - elapsed


_SQLITE_SCHEMA = """
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    at INTEGER NOT NULL,
    v INTEGER NOT NULL,
    data TEXT NOT NULL,
    blobs TEXT NOT NULL
)
"""
_SQLITE_INSERT = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_ENCODER = msgspec.json.Encoder()


def sqlite_append(directory: Path, calls: list[Call]) -> tuple[float, float]:
    """Seconds to insert every call as one SQLite transaction (WAL, synchronous=FULL), and 0.0 (nothing deferred)."""
    con = sqlite3.connect(directory / "events.db", isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute(_SQLITE_SCHEMA)
        start = time.perf_counter()
        for call in calls:
            at = time.time_ns() // 1000
            rows = [
                (
                    e.event_id,
                    call.stream,
                    call.seq + k,
                    e.data.type,
                    at,
                    e.data.v,
                    _ENCODER.encode(e.data).decode(),
                    _ENCODER.encode(e.blobs).decode(),
                )
                for k, e in enumerate(call.events)
            ]
            con.execute("BEGIN")
            con.executemany(_SQLITE_INSERT, rows)
            con.execute("COMMIT")
        return time.perf_counter() - start, 0.0
    finally:
        con.close()


# ---------------------------------------------------------------- 3: projection query


def bench_projection(root: Path, spec: Spec, report: Report) -> None:
    """sdft_examples through traj.projections vs a raw scan of one flat Parquet file of the same rows.

    Two baselines, both on one flat file: the raw scan of the sdft_examples rows (what the
    warm, materialised query is held to), and the same views computed over the events (what
    the cold first query, which builds the table, compares with).
    """
    import duckdb
    import pyarrow.parquet as pq

    from traj.projections import Projections, create_views

    home = root / "store"
    with report.phase("build store (append per demo + compact)"):
        build = build_store(home, spec.projection_events, spec.seed + 2)
    _log(f"built {build.events:,} events in {build.append_seconds:.1f}s, compacted in {build.compact_seconds:.1f}s")

    flat_events, flat_rows = root / "flat-events.parquet", root / "flat-sdft_examples.parquet"
    with report.phase("write flat Parquet"), Store.open(home, readonly=True) as store:
        # Row groups as in traj's segments, so the baseline scans in parallel just as well.
        pq.write_table(store.read(), flat_events, compression="zstd", row_group_size=128 * 1024)
    with report.phase("flat: views over the events"):
        views_con = duckdb.connect()
        create_views(views_con, f"read_parquet('{flat_events}')")
        sql = sdft_query(views_con)
        start = time.perf_counter()
        views_result = views_con.sql(sql).to_arrow_table().to_pylist()
        views_seconds = time.perf_counter() - start
        rows = views_con.sql("SELECT * FROM sdft_examples").to_arrow_table()
        pq.write_table(rows, flat_rows, compression="zstd", row_group_size=128 * 1024)
        del rows
        views_con.close()
    _log(f"query: {sql}")
    scan_con = duckdb.connect()
    scan_con.execute(f"CREATE VIEW sdft_examples AS SELECT * FROM read_parquet('{flat_rows}')")

    traj_runs: list[float] = []
    flat_runs: list[float] = []
    results: dict[str, Any] = {}
    with Store.open(home) as store:
        with report.phase("traj: open Projections"):
            start = time.perf_counter()
            projections = Projections(store)
            open_seconds = time.perf_counter() - start
        # Each side's first query on a fresh connection is its cold run; then interleaved warm runs.
        for run in range(spec.query_runs + 1):
            with report.phase("traj: sdft_examples query"):
                start = time.perf_counter()
                results["traj"] = projections.query(sql).to_pylist()
                traj_runs.append(time.perf_counter() - start)
            with report.phase("flat: raw scan of the sdft_examples rows"):
                start = time.perf_counter()
                results["flat"] = scan_con.sql(sql).to_arrow_table().to_pylist()
                flat_runs.append(time.perf_counter() - start)
            _log(f"query run {run}: traj {traj_runs[-1]:.3f}s, flat {flat_runs[-1]:.3f}s")
        with report.phase("traj: query after appending one demo"):
            rng = random.Random(spec.seed + 3)
            demo_id = _demo_id(rng)
            demo = demo_stream(rng, TextPool(rng), demo_id, 42)
            store.append(f"demo/{demo_id}", demo, expected_seq=0)
            start = time.perf_counter()
            projections.query(sql)
            incremental_seconds = time.perf_counter() - start
        projections.close()
    scan_con.close()
    for name, other in (("flat scan", results["flat"]), ("views over flat events", views_result)):
        if results["traj"] != other:
            report.notes.append(f"RESULTS DIFFER: traj {results['traj']} vs {name} {other}")
    report.projection = ProjectionResult(
        events=build.events,
        demos=build.demos,
        append_calls=build.calls,
        build_append_seconds=build.append_seconds,
        compact_seconds=build.compact_seconds,
        store_bytes=build.store_bytes,
        flat_bytes=flat_rows.stat().st_size,
        open_seconds=open_seconds,
        traj_cold=traj_runs[0],
        traj_median=statistics.median(traj_runs[1:]),
        flat_cold=flat_runs[0],
        flat_median=statistics.median(flat_runs[1:]),
        views_seconds=views_seconds,
        incremental_seconds=incremental_seconds,
        sql=sql,
        rows=results["traj"],
    )


def sdft_query(con: Any) -> str:
    """A query over sdft_examples that forces every column to be computed."""
    parts = ["count(*) AS examples"]
    for name, column_type, *_ in con.execute("DESCRIBE sdft_examples").fetchall():
        quoted = '"' + name.replace('"', '""') + '"'
        if column_type in ("VARCHAR", "JSON"):
            parts.append(f"sum(length({quoted}::VARCHAR)) AS {quoted}")
        else:
            parts.append(f"count({quoted}) AS {quoted}")
    return f"SELECT {', '.join(parts)} FROM sdft_examples"


@dataclass(frozen=True)
class BuildStats:
    """What building the projection store took."""

    events: int
    demos: int
    calls: int
    append_seconds: float
    compact_seconds: float
    store_bytes: int


def build_store(home: Path, n_events: int, seed: int) -> BuildStats:
    """Append realistic demos (one call per demo, one per demo's enrichments) until ``n_events``, then compact."""
    rng = random.Random(seed)
    text = TextPool(rng)
    events = demos = calls = 0
    with Store.open(home) as store:
        start = time.perf_counter()
        while events < n_events:
            demo_id = _demo_id(rng)
            steps = min(rng.randint(6, 30), max(1, (n_events - events - 2) // 3))
            demo = demo_stream(rng, text, demo_id, 2 + 2 * steps)
            store.append(f"demo/{demo_id}", demo, expected_seq=0)
            enrichments = enrich_stream(rng, text, demo_id, demo)
            if enrichments:
                store.append(f"enrich/{demo_id}", enrichments, expected_seq=0)
            events += len(demo) + len(enrichments)
            demos += 1
            calls += 1 + bool(enrichments)
        append_seconds = time.perf_counter() - start
        start = time.perf_counter()
        store.compact()
        compact_seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in home.rglob("*") if p.is_file())
    return BuildStats(events, demos, calls, append_seconds, compact_seconds, size)


# ---------------------------------------------------------------- realistic events


class TextPool:
    """Deterministic page-like text: a vocabulary of made-up words and paragraphs built from it."""

    def __init__(self, rng: random.Random, paragraphs: int = 4096) -> None:
        letters = string.ascii_lowercase
        words = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(3000)]
        self.words = words
        self.paragraphs = [
            " ".join(rng.choices(words, k=rng.randint(30, 50))).capitalize() + "." for _ in range(paragraphs)
        ]

    def page(self, rng: random.Random, paragraphs: int = 4) -> str:
        return "\n".join(rng.choice(self.paragraphs) for _ in range(paragraphs))

    def phrase(self, rng: random.Random, k: int) -> str:
        return " ".join(rng.choices(self.words, k=k))


_TAGS = (("button", "button"), ("input", "textbox"), ("a", "link"), ("select", "combobox"))


def demo_stream(rng: random.Random, text: TextPool, demo_id: str, n: int) -> list[NewEvent]:
    """Exactly ``n`` events of one demo: demo.started, observation/action pairs, demo.finished."""
    url = f"https://shop.example.com/{text.phrase(rng, 1)}"
    events = [
        NewEvent(
            data=DemoStarted(
                demo_id=demo_id, task="checkout", goal=text.phrase(rng, 12), url=url, seed=rng.randrange(1000)
            )
        )
    ]
    step = 0
    while len(events) < n - 1:
        if len(events) % 2 == 1:
            elements = [_element(rng, text, k) for k in range(3)]
            observation = Observation(
                url=url,
                title=text.phrase(rng, 4).title(),
                text=f"Step {step} of demo {demo_id}\n{text.page(rng)}",
                elements=elements,
                step=step,
            )
            events.append(NewEvent(data=observation, event_id=new_event_id()))
        else:
            observation_event = events[-1]
            assert isinstance(observation_event.data, Observation)
            target = rng.choice(observation_event.data.elements)
            kind = rng.choice(("CLICK", "TYPE", "CLICK", "PRESS_ENTER", "SELECT"))
            action = Action(
                kind=kind,
                target=target.agent_id,
                value=text.phrase(rng, 2) if kind in ("TYPE", "SELECT") else None,
                locators=[("agent_id", target.agent_id), ("role", f"{target.role}[name={target.name!r}]")],
                observation_id=observation_event.event_id,
                step=step,
            )
            events.append(NewEvent(data=action))
            step += 1
    if n >= 2:
        events.append(NewEvent(data=DemoFinished(demo_id=demo_id, success=rng.random() < 0.9, reason="goal reached")))
    return events[:n]


def enrich_stream(rng: random.Random, text: TextPool, demo_id: str, demo: list[NewEvent]) -> list[NewEvent]:
    """Enrichment events for about half of a demo's actions (a few of them failed)."""
    events = []
    for event in demo:
        if not isinstance(event.data, Action) or rng.random() < 0.5:
            continue
        step_hash = hashlib.sha256(f"{demo_id}/{event.data.step}".encode()).hexdigest()
        common = {
            "demo_id": demo_id,
            "action_id": event.event_id,
            "step_hash": step_hash,
            "model": "meta/llama-3.2-90b-vision-instruct",
            "prompt_version": "v3",
        }
        if rng.random() < 0.05:
            payload: Enrichment | EnrichmentFailed = EnrichmentFailed(
                **common, reason="timeout", detail="read timed out"
            )
        else:
            payload = Enrichment(
                **common,
                explanation=text.phrase(rng, 30),
                element_rationale=text.phrase(rng, 15),
                expected_outcome=text.phrase(rng, 12),
                thinking_steps=[text.phrase(rng, 8) for _ in range(3)],
            )
        events.append(NewEvent(data=payload))
    return events


def _element(rng: random.Random, text: TextPool, k: int) -> Element:
    tag, role = rng.choice(_TAGS)
    name = text.phrase(rng, 2)
    return Element(
        agent_id=f"a{k}-{rng.randrange(10_000)}",
        tag=tag,
        role=role,
        name=name,
        text=name,
        attrs={"class": text.phrase(rng, 2)},
        bbox=BoundingBox(rng.uniform(0, 1200), rng.uniform(0, 800), rng.uniform(20, 300), rng.uniform(10, 60)),
    )


def _demo_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


# ---------------------------------------------------------------- memory


@dataclass
class Phase:
    """Peak resident memory of one benchmark phase."""

    name: str
    start_mb: float = 0.0
    peak_mb: float = 0.0


class PeakRss:
    """Measures a phase's peak RSS: the kernel's high-water mark (reset at the start) on Linux,
    else a sampling thread."""

    def __init__(self) -> None:
        self._status = Path("/proc/self/status")
        self._can_reset = self._reset()

    @contextlib.contextmanager
    def measure(self, phase: Phase) -> Iterator[None]:
        gc.collect()
        phase.start_mb = _rss_mb()
        if self._can_reset and self._reset():
            yield
            phase.peak_mb = max(phase.peak_mb, self._hwm_mb())
            return
        peak = [phase.start_mb]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.005):
                peak[0] = max(peak[0], _rss_mb())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield
        finally:
            stop.set()
            sampler.join()
            phase.peak_mb = max(phase.peak_mb, peak[0], _rss_mb())

    def _reset(self) -> bool:
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        except OSError:
            return False
        return self._hwm_mb() > 0

    def _hwm_mb(self) -> float:
        for line in self._status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0


def _rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return usage / 2**20 if sys.platform == "darwin" else usage / 1024


# ---------------------------------------------------------------- report


@dataclass(frozen=True)
class AppendResult:
    """One append benchmark's outcome (medians over rounds)."""

    events: int
    calls: int
    mean_payload_bytes: float
    traj_events_per_s: float
    sqlite_events_per_s: float
    traj_seal_drain_seconds: float
    """After the last append: waiting for the background seals still running (median over rounds)."""

    @property
    def ratio(self) -> float:
        return self.traj_events_per_s / self.sqlite_events_per_s


@dataclass(frozen=True)
class ProjectionResult:
    """The projection benchmark's outcome."""

    events: int
    demos: int
    append_calls: int
    build_append_seconds: float
    compact_seconds: float
    store_bytes: int
    flat_bytes: int
    open_seconds: float
    traj_cold: float
    traj_median: float
    flat_cold: float
    flat_median: float
    views_seconds: float
    """The same views computed over one flat Parquet file of the events (no materialisation)."""
    incremental_seconds: float
    """The query right after appending one more demo (the table catches up incrementally)."""
    sql: str
    rows: list[dict[str, Any]]

    @property
    def ratio(self) -> float:
        return self.traj_median / self.flat_median


@dataclass
class Report:
    """Everything measured in this run; prints the table and the JSON line."""

    spec: Spec
    quick: bool = False
    appends: dict[str, AppendResult] = field(default_factory=dict)
    projection: ProjectionResult | None = None
    phases: dict[str, Phase] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _memory: PeakRss = field(default_factory=PeakRss)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        with self._memory.measure(self.phases.setdefault(name, Phase(name))):
            yield

    def summary(self) -> dict[str, Any]:
        batched, single, proj = self.appends.get("batched"), self.appends.get("single"), self.projection
        values: dict[str, float | None] = {
            "batched_append_ratio_vs_sqlite": batched.ratio if batched else None,
            "single_append_ratio_vs_sqlite": single.ratio if single else None,
            "projection_vs_flat_ratio": proj.ratio if proj else None,
            "projection_seconds": proj.traj_median if proj else None,
        }
        met = {
            "batched_append_ratio_vs_sqlite": _ok(values["batched_append_ratio_vs_sqlite"], lambda x: x >= 3.0),
            "single_append_ratio_vs_sqlite": _ok(values["single_append_ratio_vs_sqlite"], lambda x: x >= 1.0),
            "projection_vs_flat_ratio": _ok(values["projection_vs_flat_ratio"], lambda x: x <= 2.0),
            "projection_seconds": _ok(values["projection_seconds"], lambda x: x < 2.0),
        }
        out: dict[str, Any] = {"bench": "eventlog", "quick": self.quick}
        out.update({k: _round(v) for k, v in values.items()})
        if batched:
            out["batched_traj_events_per_s"] = round(batched.traj_events_per_s)
            out["batched_sqlite_events_per_s"] = round(batched.sqlite_events_per_s)
            out["batched_traj_seal_drain_seconds"] = round(batched.traj_seal_drain_seconds, 3)
            out["batch_size"] = self.spec.batch_size
            out["mean_payload_bytes"] = round(batched.mean_payload_bytes)
        if single:
            out["single_traj_events_per_s"] = round(single.traj_events_per_s)
            out["single_sqlite_events_per_s"] = round(single.sqlite_events_per_s)
        if proj:
            out["projection_events"] = proj.events
            out["projection_cold_seconds"] = _round(proj.traj_cold)
            out["projection_open_seconds"] = _round(proj.open_seconds)
            out["projection_after_one_append_seconds"] = _round(proj.incremental_seconds)
            out["flat_seconds"] = _round(proj.flat_median)
            out["flat_cold_seconds"] = _round(proj.flat_cold)
            out["flat_views_over_events_seconds"] = _round(proj.views_seconds)
        out["peak_rss_mb"] = round(max((p.peak_mb for p in self.phases.values()), default=0.0))
        out["peak_rss_mb_by_phase"] = {name: round(p.peak_mb) for name, p in self.phases.items()}
        out["targets"] = TARGETS
        out["met"] = met
        if self.notes:
            out["notes"] = self.notes
        return out

    def print(self) -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console(width=None if sys.stdout.isatty() else 150)
        table = Table(title="traj event log vs baselines (same run, same events)")
        for column in ("measurement", "traj", "baseline", "ratio", "target", "met"):
            table.add_column(column, justify="left" if column == "measurement" else "right")
        summary = self.summary()
        for name, label in (("batched", "batched append"), ("single", "durable single append")):
            result = self.appends.get(name)
            if result is None:
                continue
            key = f"{name}_append_ratio_vs_sqlite"
            table.add_row(
                f"{label}, events/s ({result.events:,} events, {result.events // result.calls:,}/call, "
                f"~{result.mean_payload_bytes:,.0f} B payloads)",
                f"{result.traj_events_per_s:,.0f}",
                f"{result.sqlite_events_per_s:,.0f} (SQLite)",
                f"{result.ratio:.2f}x",
                TARGETS[key],
                _mark(summary["met"][key]),
            )
            table.add_row(
                f"  {label}, µs/event",
                f"{1e6 / result.traj_events_per_s:,.1f}",
                f"{1e6 / result.sqlite_events_per_s:,.1f}",
                "",
                "",
                "",
            )
            if result.traj_seal_drain_seconds >= 0.001:
                table.add_row(
                    "    then background seals still running (not in the rate)",
                    f"{result.traj_seal_drain_seconds:.2f} s",
                    "",
                    "",
                    "",
                    "",
                )
        proj = self.projection
        if proj is not None:
            table.add_row(
                f"sdft_examples query, median of {self.spec.query_runs} warm runs ({proj.events:,} events)",
                f"{proj.traj_median:.3f} s",
                f"{proj.flat_median:.3f} s (raw scan of the rows)",
                f"{proj.ratio:.2f}x",
                TARGETS["projection_vs_flat_ratio"] + f"; traj {TARGETS['projection_seconds']} s",
                _mark(summary["met"]["projection_vs_flat_ratio"] and summary["met"]["projection_seconds"]),
            )
            table.add_row(
                "  first (cold) query: builds the table / views over flat events",
                f"{proj.traj_cold:.3f} s",
                f"{proj.views_seconds:.3f} s",
                f"{proj.traj_cold / proj.views_seconds:.2f}x",
                "",
                "",
            )
            table.add_row("  query after appending one demo", f"{proj.incremental_seconds:.3f} s", "", "", "", "")
            table.add_row("  Projections(store) open", f"{proj.open_seconds:.3f} s", "", "", "", "")
            table.add_row(
                f"  build: {proj.demos:,} demos in {proj.append_calls:,} appends",
                f"{proj.events / proj.build_append_seconds:,.0f} events/s",
                "",
                "",
                "",
                "",
            )
            table.add_row("  compact (seal + merge)", f"{proj.compact_seconds:.1f} s", "", "", "", "")
            table.add_row(
                "  bytes on disk",
                f"{proj.store_bytes / 2**20:,.0f} MiB",
                f"{proj.flat_bytes / 2**20:,.0f} MiB",
                "",
                "",
                "",
            )
        console.print(table)
        memory = Table(title="peak RSS per phase (MiB)")
        for column in ("phase", "at start", "peak"):
            memory.add_column(column, justify="left" if column == "phase" else "right")
        for p in self.phases.values():
            memory.add_row(p.name, f"{p.start_mb:,.0f}", f"{p.peak_mb:,.0f}")
        console.print(memory)
        if proj is not None:
            console.print(f"query: {proj.sql}\nresult: {proj.rows}", soft_wrap=True)
        for note in self.notes:
            console.print(f"[yellow]note:[/] {note}")
        print(json.dumps(summary), flush=True)


def _ok(value: float | None, check: Callable[[float], bool]) -> bool | None:
    return None if value is None else check(value)


def _mark(met: bool | None) -> str:
    return {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[met]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run (seconds, not minutes)")
    parser.add_argument(
        "--events", type=int, help=f"events in the projection store (default {FULL.projection_events:,})"
    )
    parser.add_argument(
        "--append-events", type=int, help=f"events in the batched append (default {FULL.append_events:,})"
    )
    parser.add_argument("--batch-size", type=int, help=f"events per batched append call (default {FULL.batch_size})")
    parser.add_argument("--single-events", type=int, help=f"events in the single append (default {FULL.single_events})")
    parser.add_argument("--rounds", type=int, help=f"interleaved rounds per append benchmark (default {FULL.rounds})")
    parser.add_argument("--runs", type=int, help=f"warm runs per projection query (default {FULL.query_runs})")
    parser.add_argument("--tmp-dir", help="parent of the scratch directory (the file system under test)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
