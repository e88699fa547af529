"""Capture fidelity over the widget zoo: is every step recorded exactly, and does it replay?

    python bench/capture.py                  # every page under tests/zoo/
    python bench/capture.py --pages date_input checkbox

Each zoo page (``tests/zoo/<name>.html`` with its script ``<name>.py``; new pages are found
automatically) is recorded from its scripted demonstration in headless Chromium, and the
recording is compared with what the script did (kind, target, value, the target's state
before each step). Then the demo is replayed in a fresh Chromium on the same page and the page
is asked whether its task is done. Prints a row per page and a final JSON line with
``capture_rate`` (checks held / checks: a step each, one for the expected warnings) and
``same_instance_replay_rate`` (pages done after replay / replayable pages).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import zoo  # the zoo lives with the tests

from traj.eventlog import Store


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", nargs="*", default=zoo.PAGES, choices=zoo.PAGES, metavar="NAME")
    args = parser.parse_args(argv)

    correct = total = replayed = replayable = 0
    print(f"{'page':<24} {'captured':>9} {'replay':>8} {'seconds':>8}  notes")
    with zoo.serve() as url, tempfile.TemporaryDirectory() as tmp:
        for name in args.pages:
            started = time.perf_counter()
            with Store.open(Path(tmp) / name) as store:
                captured = zoo.capture(store, name, url)
                correct, total = correct + captured.correct, total + captured.total
                notes = list(captured.mismatches)
                if getattr(zoo.script(name), "REPLAYABLE", True):
                    done, reason = zoo.replay_done(store, captured.demo.demo_id, f"{url}/{name}.html")
                    replayable += 1
                    replayed += done
                    verdict = "done" if done else "FAILED"
                    notes += [reason] if reason else []
                else:
                    verdict = "n/a"
            seconds = time.perf_counter() - started
            print(
                f"{name:<24} {captured.correct:>4}/{captured.total:<4} {verdict:>8} {seconds:>8.1f}  {'; '.join(notes)}"
            )
    result = {
        "pages": len(args.pages),
        "checks_correct": correct,
        "checks": total,
        "capture_rate": round(correct / total, 4) if total else None,
        "replayed": replayed,
        "replayable": replayable,
        "same_instance_replay_rate": round(replayed / replayable, 4) if replayable else None,
    }
    print(f"captured {correct}/{total} checks, replayed {replayed}/{replayable} pages")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
