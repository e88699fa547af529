"""``traj view`` on a big store: how long the first page of the demo list takes.

    python bench/view.py                       # 2,000 demos of 5 steps, 5 warm runs, in Chromium too
    python bench/view.py --demos 500 --no-browser

The store is synthesized through the store API (one append per demo: started, an observation
with a screenshot blob and an action per step, finished; screenshots are a handful of real
PNGs shared by content hash), then the viewer is served over HTTP on 127.0.0.1. Timed, first
with the events still in the write-ahead log and then after ``compact()`` sealed them into
Parquet: the cold first ``/api/items`` request (a fresh viewer: opening the store and the
projections), the median warm request, and, unless ``--no-browser``, the page in Chromium
from navigation until the first page's rows are shown. Target: each under one second; the
ratio printed is time / 1 s. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from traj.eventlog import (
    Action,
    BoundingBox,
    DemoFinished,
    DemoStarted,
    Element,
    NewEvent,
    Observation,
    Store,
)
from traj.serve import serve_in_thread
from traj.view import create_app

TARGET_S = 1.0
TASKS = ("expense", "calendar", "flights", "price", "inbox")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demos", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5, help="warm requests timed (median reported)")
    parser.add_argument("--no-browser", action="store_true", help="skip the page load in Chromium")
    args = parser.parse_args(argv)

    phases: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "store"
        start = time.perf_counter()
        with Store.open(home) as store:
            events = synthesize(store, args.demos, args.steps)
        built = time.perf_counter() - start
        print(f"[bench] {args.demos} demos, {events} events appended in {built:.1f}s", file=sys.stderr)
        phases["wal"] = measure(home, args.runs, browser=not args.no_browser)
        with Store.open(home) as store:
            store.compact()
        phases["sealed"] = measure(home, args.runs, browser=not args.no_browser)

    worst = max(v for phase in phases.values() for v in phase.values())
    summary: dict[str, Any] = {
        "bench": "view",
        "demos": args.demos,
        "events": events,
        "build_s": round(built, 2),
        "phases": {name: {k: round(v, 4) for k, v in phase.items()} for name, phase in phases.items()},
        "worst_s": round(worst, 4),
        "ratio_vs_target": round(worst / TARGET_S, 3),
        "target": f"< {TARGET_S:g} s",
    }
    summary["met"] = worst < TARGET_S
    _print_table(summary)
    print(json.dumps(summary), flush=True)
    return 0


def synthesize(store: Store, demos: int, steps: int) -> int:
    """Append ``demos`` realistic demonstrations, one append each; returns the number of events."""
    rng = random.Random(7)
    shots = [store.put_blob(_png(320, 200, (40 * k, 120, 255 - 40 * k))) for k in range(5)]
    words = ["search", "cart", "checkout", "total", "amount", "report", "submit", "date", "title", "flight", "price"]
    count = 0
    for index in range(demos):
        demo_id = f"demo-{index:05d}"
        batch = [
            NewEvent(
                data=DemoStarted(
                    demo_id=demo_id,
                    task=TASKS[index % len(TASKS)],
                    goal=f"do task {index}: " + " ".join(rng.choices(words, k=6)),
                    url="http://127.0.0.1/site/",
                    seed=index,
                    source="script",
                )
            )
        ]
        for step in range(steps):
            shot = shots[(index + step) % len(shots)]
            elements = [
                Element(
                    agent_id=str(k),
                    tag="button",
                    role="button",
                    name=rng.choice(words),
                    bbox=BoundingBox(10 * k, 20, 90, 30),
                )
                for k in range(8)
            ]
            observation = NewEvent(
                data=Observation(
                    url=f"http://127.0.0.1/site/{step}",
                    title=f"step {step}",
                    text=" ".join(rng.choices(words, k=80)),
                    elements=elements,
                    screenshot=shot,
                    step=step,
                ),
                blobs=(shot,),
            )
            action = Action(
                kind="CLICK",
                target=str(step % 8),
                locators=[("role", f"button[name={words[step % len(words)]}]")],
                observation_id=observation.event_id,
                step=step,
            )
            batch += [observation, NewEvent(data=action)]
        batch.append(NewEvent(data=DemoFinished(demo_id=demo_id, success=index % 7 != 0)))
        store.append(f"demo/{demo_id}", batch, expected_seq=0)
        count += len(batch)
    return count


def measure(home: Path, runs: int, *, browser: bool) -> dict[str, float]:
    """Cold and warm first-page requests against a fresh viewer, and the page in Chromium."""
    started = time.perf_counter()
    app = create_app(home)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        page = client.get("/api/items", params={"limit": 50}).raise_for_status().json()
        cold = time.perf_counter() - started
        assert len(page["rows"]) == 50, page["total"]
        warm = []
        for _ in range(runs):
            start = time.perf_counter()
            client.get("/api/items", params={"limit": 50, "offset": 50}).raise_for_status()
            warm.append(time.perf_counter() - start)
        result = {"cold_request_s": cold, "warm_request_s": statistics.median(warm)}
        if browser:
            result["page_in_chromium_s"] = _page_load(url)
        print(f"[bench] {home.name}: {result}", file=sys.stderr)
        return result


def _page_load(url: str) -> float:
    """Seconds from navigation until the list shows its 50 rows (the summary counts load alongside)."""
    from traj.browser import launch

    with launch(headless=True) as session:
        session.page.goto(f"{url}/static/index.html")  # warms Chromium itself, not the list
        start = time.perf_counter()
        session.page.goto(url)
        session.page.wait_for_function("document.querySelectorAll('tr.item').length === 50")
        return time.perf_counter() - start


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG (real bytes a browser decodes), so screenshots cost what they would."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _print_table(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"traj view, first page of {summary['demos']:,} demos ({summary['events']:,} events)")
    for column in ("store state", "cold request (s)", "warm request (s)", "page in Chromium (s)"):
        table.add_column(column, justify="left" if column == "store state" else "right")
    for name, phase in summary["phases"].items():
        browser = phase.get("page_in_chromium_s")
        table.add_row(
            name,
            f"{phase['cold_request_s']:.3f}",
            f"{phase['warm_request_s']:.3f}",
            "-" if browser is None else f"{browser:.3f}",
        )
    met = "yes" if summary["met"] else "no"
    table.add_row("worst", "", "", f"{summary['ratio_vs_target']:.2f}x of {summary['target']} (met: {met})")
    Console().print(table)


if __name__ == "__main__":
    raise SystemExit(main())
