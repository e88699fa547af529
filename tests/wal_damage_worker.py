"""A worker for the WAL damage sweep: reads one store's WAL file with each of many single bytes flipped.

Usage: ``python wal_damage_worker.py HOME ORIGINAL FLIPS``: HOME is a store holding one WAL file,
ORIGINAL that file's intact bytes (a crashed worker may leave HOME's copy damaged), FLIPS a
JSON file holding ``[[offset, xor], ...]``.

It runs in its own process because a flip may abort the interpreter inside Arrow: the parent
sees the exit status and which flip was being read. For each flip it writes the damaged file
and reads it twice, with ``read_wal`` and with a writable ``Store.open`` (which recovers), then
prints ``{"flip": k, "read": outcome, "open": outcome, "why": ...}``. Before each flip it prints
``{"begin": k}``, flushed, so an abort names its flip. An outcome is one of:

``intact``     every acknowledged row read back, unchanged
``refused``    a TrajError, and the file left exactly as it was
``torn``       the rows of every batch but the last, and no error
``lost``       fewer rows (a prefix) and no error: acknowledged events silently dropped
``different``  rows that were never written
``modified``   a TrajError, but the file was changed (truncated or removed) first
``traceback``  any other exception
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa

from traj.errors import TrajError
from traj.eventlog import EVENT_SCHEMA, Store
from traj.eventlog._wal import read_wal


def main(home: Path, wal_name: str, original: bytes, flips: list[tuple[int, int]]) -> None:
    wal = home / "wal" / wal_name
    wal.write_bytes(original)
    batches = read_wal(wal).batches
    expected = pa.Table.from_batches(batches, schema=EVENT_SCHEMA)
    torn = expected.slice(0, expected.num_rows - batches[-1].num_rows)
    for k, (offset, xor) in enumerate(flips):
        print(json.dumps({"begin": k}), flush=True)
        damaged = bytearray(original)
        damaged[offset] ^= xor
        wal.write_bytes(damaged)
        read, why_read = _outcome(lambda: _from_batches(read_wal(wal).batches), expected, torn, wal, damaged)
        opened, why_open = _outcome(lambda: _read_store(home), expected, torn, wal, damaged)
        print(json.dumps({"flip": k, "read": read, "open": opened, "why": why_read or why_open}), flush=True)
    wal.write_bytes(original)


def _from_batches(batches: list[pa.RecordBatch]) -> pa.Table:
    return pa.Table.from_batches(batches, schema=EVENT_SCHEMA)


def _read_store(home: Path) -> pa.Table:
    with Store.open(home) as store:
        return store.read()


def _outcome(read, expected: pa.Table, torn: pa.Table, wal: Path, damaged: bytes) -> tuple[str, str]:
    try:
        table = read()
    except TrajError as exc:
        intact = wal.exists() and wal.read_bytes() == damaged
        return ("refused" if intact else "modified"), f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # any other exception is what the sweep looks for
        return "traceback", f"{type(exc).__name__}: {exc}"
    table = table.select(expected.column_names)
    if table.equals(expected):
        return "intact", ""
    if table.equals(torn):
        return "torn", ""
    if table.num_rows < expected.num_rows and table.equals(expected.slice(0, table.num_rows)):
        return "lost", f"{table.num_rows} of {expected.num_rows} rows"
    return "different", f"{table.num_rows} rows"


if __name__ == "__main__":
    original = Path(sys.argv[2])
    flips = [tuple(flip) for flip in json.loads(Path(sys.argv[3]).read_text())]
    main(Path(sys.argv[1]), original.name, original.read_bytes(), flips)
