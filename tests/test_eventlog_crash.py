"""A writer process SIGKILLed at random moments loses no acknowledged event and duplicates none."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from traj.eventlog import Store, verify_store

WRITER = Path(__file__).with_name("crash_writer.py")
STORES = 10
TRIALS_PER_STORE = 4  # later trials recover a store an earlier trial crashed
SEAL_BYTES = 16 * 1024  # small, so that seals (and crashes inside them) happen in every run


def run_until_killed(
    home: Path, seed: int, previous: Path | None, rng: random.Random, stderr: Path, *, min_acks: int
) -> list[dict]:
    """Start the writer, SIGKILL it at a random moment, return the records it printed in full.

    Mostly the kill comes a random delay after the writer reported a random number of
    appends (at least ``min_acks``), so the run gets as far on a slow disk as on a fast one;
    sometimes it comes at a random time after the start, while the store may be recovering.
    """
    args = [sys.executable, str(WRITER), str(home), str(seed), str(SEAL_BYTES), str(previous or "-")]
    with open(stderr, "wb") as err:
        writer = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err)
    lines: list[bytes] = []
    progress = threading.Condition()
    acks = [0]
    target = max(min_acks, rng.randint(0, 30))

    def collect() -> None:
        assert writer.stdout is not None
        for line in writer.stdout:
            with progress:
                lines.append(line)
                acks[0] += line.startswith(b'{"stream"')
                progress.notify_all()
        with progress:
            acks[0] = 1 << 30  # the writer is gone: stop waiting
            progress.notify_all()

    reader = threading.Thread(target=collect)
    reader.start()
    try:
        if min_acks == 0 and rng.random() < 0.15:
            time.sleep(rng.uniform(0.15, 0.5))
        else:
            with progress:
                assert progress.wait_for(lambda: acks[0] >= target, timeout=60), "the writer stalled"
            time.sleep(rng.choice([0.0, rng.uniform(0.0, 0.02), rng.uniform(0.0, 0.15)]))
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=60)
        reader.join(timeout=60)
    assert writer.returncode == -signal.SIGKILL, f"the writer exited on its own: {stderr.read_text()}"
    return [json.loads(line) for line in lines if line.endswith(b"\n")]


def assert_store_holds_exactly(home: Path, acknowledged: dict[str, tuple[str, int]]) -> None:
    """Every acknowledged id once at its stream and seq; positions and seqs gap-free; verify clean."""
    report = verify_store(home)
    assert report.ok, f"before reopening: {report.problems}"
    with Store.open(home) as store:
        table = store.read(columns=["position", "event_id", "stream", "seq"])
        recovery = store.recovery
    positions = table["position"].to_pylist()
    assert positions == list(range(len(positions))), f"positions have gaps (recovery: {recovery})"
    found = {}
    seqs: dict[str, list[int]] = {}
    for event_id, stream, seq in zip(
        table["event_id"].to_pylist(), table["stream"].to_pylist(), table["seq"].to_pylist(), strict=True
    ):
        assert event_id not in found, f"event {event_id} is in the log twice (recovery: {recovery})"
        found[event_id] = (stream, seq)
        seqs.setdefault(stream, []).append(seq)
    for stream, got in seqs.items():
        assert got == list(range(len(got))), f"stream {stream} has seq gaps (recovery: {recovery})"
    lost = {i: where for i, where in acknowledged.items() if found.get(i) != where}
    assert not lost, f"{len(lost)} acknowledged events are missing or moved, e.g. {next(iter(lost.items()))}"
    after = verify_store(home)
    assert after.ok and not after.notes, f"after reopening: {after.problems} {after.notes}"


@pytest.mark.slow
@pytest.mark.parametrize("store_number", range(STORES))
def test_sigkilled_writer_loses_no_acknowledged_event_and_duplicates_none(store_number, tmp_path):
    rng = random.Random(20_000 + store_number)
    home = tmp_path / "store"
    acks_file = tmp_path / "acks.jsonl"
    acknowledged: dict[str, tuple[str, int]] = {}
    appends = retries = 0
    for trial in range(TRIALS_PER_STORE):
        records = run_until_killed(
            home,
            rng.randrange(1 << 30),
            acks_file if acks_file.exists() else None,
            rng,
            tmp_path / f"err{trial}",
            min_acks=40 if trial == 0 else 0,  # the first run surely seals, the others may crash anywhere
        )
        new_acks = [r for r in records if "ids" in r]
        for record in records:
            for event_id in record.get("retried", []):
                assert event_id in acknowledged or any(event_id in a["ids"] for a in new_acks)
        for ack in new_acks:
            for k, event_id in enumerate(ack["ids"]):
                assert event_id not in acknowledged, "a fresh append reused an acknowledged id"
                acknowledged[event_id] = (ack["stream"], ack["first_seq"] + k)
        with open(acks_file, "a") as f:
            f.writelines(json.dumps(ack) + "\n" for ack in new_acks)
        appends += len(new_acks)
        retries += sum("retried" in r for r in records)
        if home.exists():
            assert_store_holds_exactly(home, acknowledged)
    assert appends > 0, "no trial got as far as an acknowledged append"
    with Store.open(home, readonly=True) as store:
        assert store.manifest.segments, "no seal happened: the crash windows around sealing went untested"
