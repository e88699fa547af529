"""Short version of bench/crash.py: a multi-threaded writer SIGKILLed at random moments.

Three appending threads (own streams with expected seqs, one shared stream appended at the
end), a thread polling ``stream_seq``, blobs, background seals, compaction, and re-sends of
unacknowledged and acknowledged appends after each restart. The benchmark runs 200 trials.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[1] / "bench" / "crash.py"


def test_killed_threaded_writer_loses_and_duplicates_no_acknowledged_event():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--trials", "12", "--stores", "3", "--seed", "7"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0, f"{summary} {done.stderr[-3000:]}"
    assert summary["trials"] == 12
    assert summary["acknowledged_events"] > 0
    assert summary["retries"] > 0, "no restart re-sent an earlier append"
    assert summary["sealed_segments"] > 0, "no seal happened: the crash windows around sealing went untested"
    failures = ("lost", "duplicated", "gaps", "verify_failures", "writer_failures")
    assert {key: summary[key] for key in failures} == dict.fromkeys(failures, 0), summary["problems"]
