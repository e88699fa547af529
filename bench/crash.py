"""SIGKILL a multi-threaded writer at random moments: no acknowledged event lost or duplicated.

    python bench/crash.py                 # 200 trials over 20 stores (a few minutes on 2 cores)
    python bench/crash.py --trials 12     # the short version the test suite runs

Each trial starts a writer process (this file with ``--writer``) on a store an earlier trial
may have crashed. The writer opens the store (recovering it), first re-sends appends that an
earlier writer started but was killed before acknowledging (each must land exactly once:
written now, or recognised as already written) and a few that were acknowledged (each must
come back as a duplicate at its original place), then runs three appending threads (their
own streams with expected seqs, plus one shared stream appended at the end), a thread
polling ``stream_seq`` (the lazy index race), blobs written before the events citing them,
background seals (a small ``seal_bytes``) and an occasional ``compact``. The driver kills it
at a random moment and checks the store: ``verify_store`` clean, every acknowledged event
exactly once at its stream and seq, seqs and positions gap-free, no event id twice.

The last line printed is a JSON summary; ``lost``, ``duplicated``, ``gaps``, ``verify_failures``
and ``writer_failures`` must all be 0.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

OWN_STREAMS = ("demo/a", "demo/b", "demo/c")
"""One stream per appending thread, appended with expected seqs."""
SHARED_STREAM = "feedback/shared"
"""Every thread appends here too, at the end (expected_seq=None): order alone matters."""
WORDS = ("sign", "in", "email", "password", "submit", "search", "results", "cart", "checkout", "next")
SEAL_BYTES = 24 * 1024


# ---------------------------------------------------------------------------- the writer


def _event(event_id: str, blob: str | None):
    """The event with ``event_id``, rebuilt identically from it so a later writer can re-send it."""
    from traj.eventlog import NewEvent, Observation

    rng = random.Random(event_id)
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 200)))
    payload = Observation(url=f"https://shop.example.test/{rng.randint(0, 99)}", text=text, screenshot=blob)
    return NewEvent(data=payload, event_id=event_id, blobs=(blob,) if blob else ())


def _events(record: dict) -> list:
    return [_event(i, b) for i, b in zip(record["ids"], record["blobs"], strict=True)]


class _Writer:
    """The writer process: prints one JSON line per intent, acknowledgement and retry."""

    def __init__(self, home: str, seed: int) -> None:
        from traj.eventlog import Store

        self.store = Store.open(home, seal_bytes=SEAL_BYTES)
        self.rng = random.Random(seed)
        self.out = threading.Lock()
        self.stop = threading.Event()
        self.failure: list[str] = []

    def emit(self, record: dict) -> None:
        with self.out:
            sys.stdout.write(json.dumps(record) + "\n")
            sys.stdout.flush()

    def fail(self, why: str) -> None:
        self.failure.append(why)
        self.stop.set()

    def resend(self, record: dict, *, acknowledged: bool) -> None:
        """Re-send an earlier append with the same ids: it must land exactly once."""
        expected = record["expected_seq"]
        result = self.store.append(record["stream"], _events(record), expected_seq=expected)
        if acknowledged and not (result.duplicate and result.first_position == record["first_position"]):
            self.fail(f"retry of acknowledged {record['ids']} answered {result}")
        self.emit(
            {
                "ack": record["key"],
                "stream": record["stream"],
                "ids": record["ids"],
                "first_seq": result.first_seq,
                "first_position": result.first_position,
                "retry": True,
                "duplicate": result.duplicate,
            }
        )

    def append_loop(self, number: int, stream: str) -> None:
        from traj.eventlog import new_event_id

        rng = random.Random(self.rng.random())
        seq = self.store.stream_seq(stream)
        key = 0
        while not self.stop.is_set():
            target = SHARED_STREAM if rng.random() < 0.25 else stream
            count = rng.choice([1, 1, 2, 3, 6])
            blobs = [None] * count
            if rng.random() < 0.25:
                blobs[rng.randrange(count)] = self.store.put_blob(rng.randbytes(rng.randint(100, 4000)))
            record = {
                "key": f"{number}.{key}.{rng.random()}",
                "stream": target,
                "ids": [new_event_id() for _ in range(count)],
                "blobs": blobs,
                "expected_seq": seq if target == stream else None,
            }
            key += 1
            self.emit({"intent": record})
            result = self.store.append(target, _events(record), expected_seq=record["expected_seq"])
            if result.duplicate:
                self.fail(f"a fresh append came back as a duplicate: {result}")
            if target == stream:
                seq = result.next_seq
            self.emit(
                {
                    "ack": record["key"],
                    "stream": target,
                    "ids": record["ids"],
                    "first_seq": result.first_seq,
                    "first_position": result.first_position,
                }
            )

    def poll_loop(self) -> None:
        streams = (*OWN_STREAMS, SHARED_STREAM, "demo/never")
        while not self.stop.is_set():
            self.store.stream_seq(random.choice(streams))
            time.sleep(0.001)

    def compact_loop(self) -> None:
        while not self.stop.wait(random.uniform(0.3, 1.5)):
            self.store.compact()

    def run(self, intents: list[dict], acknowledged: list[dict]) -> None:
        self.emit({"ready": True, "recovery": self.store.recovery})
        # The poller starts first: its stream_seq races the first appends to build the index.
        _start(self.poll_loop)
        for record in intents:
            self.resend(record, acknowledged=False)
        for record in self.rng.sample(acknowledged, min(3, len(acknowledged))):
            self.resend(record, acknowledged=True)
        for number, stream in enumerate(OWN_STREAMS):
            _start(self.append_loop, number, stream)
        _start(self.compact_loop)
        self.stop.wait()  # until killed, or a broken expectation
        sys.stderr.write(f"crash writer: {self.failure[0]}\n")
        sys.exit(2)


def _start(target: Callable[..., None], *args: object) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()


def _writer_main(home: str, seed: int, pending: str) -> None:
    state = json.loads(Path(pending).read_text()) if pending != "-" else {"intents": [], "acknowledged": []}

    def crash_on_error(args: threading.ExceptHookArgs) -> None:
        sys.stderr.write(f"crash writer: {args.exc_type.__name__}: {args.exc_value}\n")
        sys.stderr.flush()
        import os

        os._exit(2)

    threading.excepthook = crash_on_error
    _Writer(home, seed).run(state["intents"], state["acknowledged"])


# ---------------------------------------------------------------------------- the driver


class _Ledger:
    """What the writers said: acknowledged events (where they must be) and open intents."""

    def __init__(self) -> None:
        self.where: dict[str, tuple[str, int | None, int]] = {}
        """event id -> (stream, seq, position) of every acknowledged event."""
        self.acknowledged: list[dict] = []
        self.intents: dict[str, dict] = {}
        self.events = 0
        self.retries = 0

    def take(self, records: list[dict]) -> None:
        for record in records:
            if "intent" in record:
                self.intents[record["intent"]["key"]] = record["intent"]
            elif "ack" in record:
                intent = self.intents.pop(record["ack"], None)
                self.retries += bool(record.get("retry"))
                for k, event_id in enumerate(record["ids"]):
                    where = (record["stream"], record["first_seq"] + k, record["first_position"] + k)
                    self.events += event_id not in self.where
                    if self.where.setdefault(event_id, where) != where:
                        raise AssertionError(f"event {event_id} acknowledged at {where} and at {self.where[event_id]}")
                if intent is not None:
                    self.acknowledged.append({**intent, "first_position": record["first_position"]})


def _run_until_killed(
    home: Path, seed: int, pending: Path, rng: random.Random, err: Path
) -> tuple[list[dict], str | None]:
    """Start a writer, SIGKILL it at a random moment: the complete lines it printed, and why it
    stopped by itself if it did (a broken expectation or an error from the store)."""
    args = [sys.executable, __file__, "--writer", str(home), str(seed), str(pending)]
    with open(err, "wb") as stderr:
        writer = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr)
    lines: list[bytes] = []
    progress = threading.Condition()
    acks = [0]
    target = rng.choice([0, rng.randint(1, 30), rng.randint(30, 300)])

    def collect() -> None:
        assert writer.stdout is not None
        for line in writer.stdout:
            with progress:
                lines.append(line)
                acks[0] += line.startswith(b'{"ack"')
                progress.notify_all()
        with progress:
            acks[0] = 1 << 30
            progress.notify_all()

    reader = threading.Thread(target=collect)
    reader.start()
    try:
        with progress:
            if not progress.wait_for(lambda: acks[0] >= target, timeout=120):
                raise AssertionError("the writer stalled")
        time.sleep(rng.choice([0.0, rng.uniform(0.0, 0.02), rng.uniform(0.0, 0.2)]))
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=60)
        reader.join(timeout=60)
    failure = None
    if writer.returncode != -signal.SIGKILL:
        last = (err.read_text().strip().splitlines() or ["no output"])[-1]
        failure = f"the writer stopped by itself ({writer.returncode}): {last}"
    return [json.loads(line) for line in lines if line.endswith(b"\n")], failure


def _check(home: Path, ledger: _Ledger) -> dict[str, int]:
    """Count lost and duplicated acknowledged events; verify before and after a reopen."""
    from traj.errors import TrajError
    from traj.eventlog import Store, verify_store

    failures = 0
    before = verify_store(home)
    failures += not before.ok
    try:
        with Store.open(home) as store:
            table = store.read(columns=["position", "event_id", "stream", "seq"])
    except TrajError as exc:  # the store cannot even be opened: everything acknowledged counts as lost
        return {"lost": len(ledger.where), "duplicated": 0, "gaps": 0, "verify_failures": 1, "problems": [str(exc)]}
    ids = table["event_id"].to_pylist()
    found = {
        i: (s, q, p)
        for i, s, q, p in zip(
            ids, table["stream"].to_pylist(), table["seq"].to_pylist(), table["position"].to_pylist(), strict=True
        )
    }
    duplicated = len(ids) - len(found)
    seqs: dict[str, list[int]] = {}
    for stream, seq in zip(table["stream"].to_pylist(), table["seq"].to_pylist(), strict=True):
        seqs.setdefault(stream, []).append(seq)
    duplicated += sum(len(v) - len(set(v)) for v in seqs.values())
    gaps = sum(v != list(range(len(v))) for v in seqs.values())
    gaps += table["position"].to_pylist() != list(range(table.num_rows))
    lost = sum(found.get(i) != where for i, where in ledger.where.items())
    after = verify_store(home)
    failures += not after.ok or bool(after.notes)
    problems = [*before.problems, *after.problems][:3]
    return {"lost": lost, "duplicated": duplicated, "gaps": gaps, "verify_failures": failures, "problems": problems}


def run(trials: int, stores: int, seed: int, workdir: Path) -> dict:
    """Run ``trials`` kills spread over ``stores`` stores; the summary of what was checked."""
    rng = random.Random(seed)
    totals = {
        "trials": 0,
        "acknowledged_events": 0,
        "retries": 0,
        "lost": 0,
        "duplicated": 0,
        "gaps": 0,
        "verify_failures": 0,
        "writer_failures": 0,
        "sealed_segments": 0,
    }
    problems: list[str] = []
    per_store = [trials // stores + (k < trials % stores) for k in range(stores)]
    for number, count in enumerate(per_store):
        home = workdir / f"store{number}"
        ledger = _Ledger()
        pending = workdir / f"pending{number}.json"
        for trial in range(count):
            pending.write_text(
                json.dumps({"intents": list(ledger.intents.values()), "acknowledged": ledger.acknowledged[-200:]})
            )
            records, failure = _run_until_killed(home, rng.randrange(1 << 30), pending, rng, workdir / "err")
            ledger.take(records)
            totals["trials"] += 1
            if failure is not None:
                totals["writer_failures"] += 1
                problems.append(failure)
            if not home.exists():
                continue
            found = _check(home, ledger)
            problems += found.pop("problems")
            for key, value in found.items():
                totals[key] += value
            print(f"store {number} trial {trial}: {ledger.events} acknowledged, {found}", file=sys.stderr)
        totals["acknowledged_events"] += ledger.events
        totals["retries"] += ledger.retries
        if home.exists():
            from traj.eventlog import Store

            with Store.open(home, readonly=True) as store:
                totals["sealed_segments"] += len(store.manifest.segments)
    return {"benchmark": "crash", **totals, "problems": problems[:5]}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        _writer_main(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="writer processes to kill (default 200)")
    parser.add_argument("--stores", type=int, default=0, help="stores to spread them over (default trials/10)")
    parser.add_argument("--seed", type=int, default=20_26)
    args = parser.parse_args()
    stores = args.stores or max(1, args.trials // 10)
    with tempfile.TemporaryDirectory(prefix="traj-crash-") as workdir:
        summary = run(args.trials, stores, args.seed, Path(workdir))
    print(json.dumps(summary))
    failed = any(summary[key] for key in ("lost", "duplicated", "gaps", "verify_failures", "writer_failures"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
