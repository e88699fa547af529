"""A writer for the crash test: appends until it is SIGKILLed, reporting every acknowledged append.

Usage: ``python crash_writer.py HOME SEED SEAL_BYTES PREVIOUS_ACKS|-``

Prints one JSON object per line and flushes after each, only once the store has returned:
``{"ready": ...}`` after opening, ``{"stream", "first_seq", "first_position", "ids", "blobs"}``
per acknowledged append, ``{"retried": [...]}`` per acknowledged exact retry. Before the loop
it retries a few appends that an earlier, killed writer reported (PREVIOUS_ACKS, JSON lines).
A broken expectation exits with status 2 and the reason on stderr.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
import time
from pathlib import Path

from traj.eventlog import Action, Element, NewEvent, Observation, Store, new_event_id

STREAMS = ("demo/alpha", "run/beta", "enrich/gamma", "train/delta")
WORDS = ("sign", "in", "email", "password", "submit", "search", "results", "cart", "checkout", "next", "order")
MAX_SECONDS = 30.0


def make_event(event_id: str, seq: int, blob: str | None) -> NewEvent:
    """The event with ``event_id``: rebuilt identically from its id, so a later writer can retry it."""
    rng = random.Random(event_id)
    if blob is None and seq % 3 == 2:
        payload: Observation | Action = Action(
            kind=rng.choice(["CLICK", "TYPE", "PRESS_ENTER"]),
            target=f"e{rng.randint(0, 5)}",
            value=rng.choice(WORDS),
            locators=[("test_id", f"field-{seq}"), ("role", "button")],
            step=seq,
        )
    else:
        payload = Observation(
            url=f"https://shop.example.test/step/{seq}",
            title=rng.choice(WORDS),
            text=" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 250))),
            elements=[
                Element(agent_id=f"e{k}", tag="button", name=rng.choice(WORDS)) for k in range(rng.randint(1, 6))
            ],
            screenshot=blob,
            step=seq,
        )
    return NewEvent(data=payload, event_id=event_id, blobs=(blob,) if blob else ())


def rebuild(ack: dict) -> list[NewEvent]:
    return [
        make_event(event_id, ack["first_seq"] + k, blob)
        for k, (event_id, blob) in enumerate(zip(ack["ids"], ack["blobs"], strict=True))
    ]


def emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def check(condition: bool, why: str) -> None:
    if not condition:
        sys.stderr.write(f"crash_writer: {why}\n")
        sys.stderr.flush()
        sys.exit(2)


def retry(store: Store, ack: dict) -> None:
    result = store.append(ack["stream"], rebuild(ack), expected_seq=ack["first_seq"])
    check(result.duplicate, f"retry of {ack['ids']} was not recognised as a duplicate: {result}")
    check(
        (result.first_seq, result.first_position) == (ack["first_seq"], ack["first_position"]),
        f"retry of {ack['ids']} answered {result}, the original append was {ack}",
    )
    emit({"retried": ack["ids"]})


def main(home: str, seed: int, seal_bytes: int, previous: str) -> None:
    rng = random.Random(seed)
    started = time.monotonic()
    store = Store.open(home, seal_bytes=seal_bytes)
    seqs = {stream: store.stream_seq(stream) for stream in STREAMS}
    emit({"ready": True, "seqs": seqs, "recovery": store.recovery})
    if previous != "-":
        earlier = [json.loads(line) for line in Path(previous).read_text().splitlines()]
        for ack in rng.sample(earlier, min(3, len(earlier))):
            retry(store, ack)
    mine: list[dict] = []
    for _ in itertools.count():
        if time.monotonic() - started > MAX_SECONDS:
            emit({"done": True})
            return
        stream = rng.choice(STREAMS)
        count = 1 if rng.random() < 0.5 else rng.randint(2, 6)
        blobs = [store.put_blob(rng.randbytes(rng.randint(200, 6000))) if rng.random() < 0.25 else None]
        blobs += [None] * (count - 1)
        rng.shuffle(blobs)
        ack = {"stream": stream, "first_seq": seqs[stream], "ids": [new_event_id() for _ in range(count)]}
        ack["blobs"] = blobs
        result = store.append(stream, rebuild(ack), expected_seq=ack["first_seq"])
        check(not result.duplicate, f"a fresh append was answered as a duplicate: {result}")
        check(result.first_seq == ack["first_seq"], f"append at seq {ack['first_seq']} landed at {result}")
        seqs[stream] = result.next_seq
        ack["first_position"] = result.first_position
        emit(ack)
        mine.append(ack)
        if rng.random() < 0.1:
            retry(store, rng.choice(mine))
        if rng.random() < 0.01:
            store.compact()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
