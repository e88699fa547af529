"""``traj demos vars DEMO``: the values a demo's goal names (its variables), and their edits."""

from __future__ import annotations

from typing import Annotated

import typer

from traj.cli._common import (
    HomeOption,
    JsonOption,
    console,
    parse_assignments,
    print_json,
    reports_errors,
    resolve_home,
)

__all__ = ["variables"]


@reports_errors
def variables(
    demo: Annotated[str, typer.Argument(help="The demo id (see 'traj demos').")],
    rename: Annotated[list[str] | None, typer.Option("--rename", help="OLD=NEW: give a variable another name.")] = None,
    drop: Annotated[
        list[str] | None, typer.Option("--drop", help="NAME: the value stays as demonstrated on every instance.")
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a demo's variables: name, demonstrated value, the steps that carry it; and the goal's
    template a new goal (traj replay --goal) is bound by. --rename and --drop edit them."""
    from traj.eventlog import Store
    from traj.projections import load_demo
    from traj.replay import edit_variables

    renames = parse_assignments(rename, "--rename")
    if renames or drop:
        with Store.open(resolve_home(home)) as store:
            loaded = edit_variables(store, demo, rename=renames, drop=drop or [])
    else:
        with Store.open(resolve_home(home), readonly=True) as store:
            loaded = load_demo(store, demo)
    steps = {step.action_id: step.action.step for step in loaded.steps}
    rows = [
        {
            "name": name,
            "value": loaded.defaults.get(name, ""),
            "steps": [steps[i] for i in ids if i in steps],
            "options": loaded.options.get(name, []),
        }
        for name, ids in loaded.variables.items()
    ]
    if as_json:
        print_json(
            {"demo_id": loaded.demo_id, "goal": loaded.started.goal, "template": loaded.template, "variables": rows}
        )
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table("name", "value", "steps", "options", header_style="bold")
    for row in rows:
        table.add_row(
            row["name"], escape(row["value"]), ", ".join(map(str, row["steps"])), escape(", ".join(row["options"]))
        )
    console.print(table)
    console.print(f"template: {escape(loaded.template or loaded.started.goal)}", highlight=False)
