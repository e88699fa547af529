"""``traj feedback``: judge a run (or one of its steps) good or bad, optionally with the right action."""

from __future__ import annotations

from typing import Annotated

import typer

from traj.cli._common import HomeOption, console, reports_errors, resolve_home

__all__ = ["feedback"]


@reports_errors
def feedback(
    run: Annotated[str, typer.Argument(help="The run id (or run/<id>, demo/<id>) being judged.")],
    label: Annotated[str, typer.Argument(help="good or bad.")],
    step: Annotated[int | None, typer.Option(help="Judge only this step (as numbered in run_steps).")] = None,
    correct: Annotated[
        str | None,
        typer.Option(
            help='The action that should have been taken at --step, e.g. \'{"kind": "CLICK", "target": "12"}\'.'
        ),
    ] = None,
    note: Annotated[str, typer.Option(help="Why, in a person's words.")] = "",
    home: HomeOption = None,
) -> None:
    """Record feedback on a run: it becomes labelled training rows ('traj export')."""
    from traj.agent import record_feedback
    from traj.eventlog import Store

    if label not in ("good", "bad"):
        raise typer.BadParameter(f"LABEL is good or bad, not {label!r}")
    with Store.open(resolve_home(home)) as store:
        record = record_feedback(store, run, label, step=step, correction=correct, note=note)  # type: ignore[arg-type]
    what = record.feedback.target if step is None else f"{record.feedback.target} step {step}"
    fix = f", should have been {record.feedback.correction}" if record.feedback.correction else ""
    console.print(f"{what}: {label}{fix} (event {record.event_id} at position {record.position})", highlight=False)
