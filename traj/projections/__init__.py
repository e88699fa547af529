"""DuckDB projections over the event log: demos, steps, enrichments, feedback, train runs, lineage.

Every projection is a view over ``events``; rebuilt from scratch it gives the same rows.
:func:`load_demo` folds one demonstration's events into a :class:`Demo`; :func:`derive_variables`
finds the values its goal names (its variables, as the goal writes them: :func:`goal_rendering`;
:func:`retyped` turns a new goal's value into the form typed) and :func:`goal_template` cuts them
out of the goal. The datasets rendered from these views are :mod:`traj.datasets`'.
"""

from __future__ import annotations

from traj.projections._connection import Projections
from traj.projections._crossing import Quantity, crossing, goal_thresholds, threshold_number
from traj.projections._demo import Demo, DemoStep, demo_from, load_demo
from traj.projections._forms import goal_rendering, retyped
from traj.projections._instances import demo_enrichments, instance_of, teacher_step
from traj.projections._template import FREE, goal_template, occurs, swap_values, template_parts, value_spans
from traj.projections._variables import derive_variables
from traj.projections._views import VIEWS, create_views

__all__ = [
    "FREE",
    "VIEWS",
    "Demo",
    "DemoStep",
    "Projections",
    "Quantity",
    "create_views",
    "crossing",
    "demo_enrichments",
    "demo_from",
    "derive_variables",
    "goal_rendering",
    "goal_template",
    "goal_thresholds",
    "instance_of",
    "load_demo",
    "occurs",
    "retyped",
    "swap_values",
    "teacher_step",
    "template_parts",
    "threshold_number",
    "value_spans",
]
