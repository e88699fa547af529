"""Instances of a task on a site traj does not bundle: a JSONL file of ``{"url", "goal"}``.

Each line is one instance: where it starts and the goal in words. The goal is all a replay
gets to bind the demo's variables, as it is on any site that states no parameters.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from traj.errors import TrajError

__all__ = ["Instance", "read_instances"]


@dataclass(frozen=True)
class Instance:
    """One instance of a task: its start URL and its goal; ``line`` is where the file gave it."""

    url: str
    goal: str
    line: int = 0


def read_instances(path: Path) -> list[Instance]:
    """The instances in ``path`` (JSON lines; blank lines skipped), all checked before any runs.

    A missing file, a line that is not a JSON object, a URL that is not http(s), or a blank
    goal is one-line TrajError naming the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TrajError(f"cannot read instances from {path}: {exc.strerror or exc}") from None
    instances = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            instances.append(_instance(path, number, line))
    if not instances:
        raise TrajError(f'{path} holds no instances (one JSON object a line: {{"url": ..., "goal": ...}})')
    return instances


def _instance(path: Path, number: int, line: str) -> Instance:
    where = f"{path}:{number}"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TrajError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(item, dict) or set(item) - {"url", "goal"}:
        raise TrajError(f'{where}: an instance is an object with "url" and "goal" only')
    url, goal = item.get("url"), item.get("goal")
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise TrajError(f'{where}: "url" must be an http(s) URL, got {url!r}')
    if not isinstance(goal, str) or not goal.strip():
        raise TrajError(f'{where}: "goal" must be the task in words, got {goal!r}')
    return Instance(url, " ".join(goal.split()), number)
