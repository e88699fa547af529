"""A writer that keeps merging segments away under readers, for the query-during-compaction tests.

Usage: ``python compacting_writer.py HOME COMPACT_EVERY_SECONDS``

Seals a few small segments, prints ``ready``, then loops until it is killed: append a small
demo (and its enrichments) and seal it into a segment of its own; once every
COMPACT_EVERY_SECONDS, compact, which lists one merged segment in the manifest and deletes the
files it replaces. Prints ``compacted`` (flushed) after each compaction, so the test can
count them. The cadence is by the clock, so a slow machine slows the readers and the writer
alike without making compactions more frequent relative to a query.
"""

from __future__ import annotations

import itertools
import sys
import time

from traj.eventlog import Store
from traj.sample import write_sample_demos


def main(home: str, every: float) -> None:
    with Store.open(home) as store:
        for seed in range(4):
            write_sample_demos(store, 1, steps=2, page_bytes=200, seed=seed)
            store.seal()
        print("ready", flush=True)
        compacted = time.monotonic()
        for seed in itertools.count(4):
            write_sample_demos(store, 1, steps=2, page_bytes=200, seed=seed)
            store.seal()
            if time.monotonic() - compacted >= every:
                store.compact()
                compacted = time.monotonic()
                print("compacted", flush=True)
            time.sleep(0.01)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
