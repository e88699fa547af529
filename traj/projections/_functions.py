"""The SQL functions the projection views call, installed in every connection before the views.

``teacher_context(goal, steps_json, concluded, answer)`` renders the SDFT teacher's privileged
context with :func:`traj.prompt.render_teacher_context` itself (a concluded demonstration
ending with :func:`traj.prompt.finish_step`), so the ``sdft_examples`` rows and Python
give the same text; ``teacher_context_version()`` names the rendering that made it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
import pyarrow as pa

from traj.prompt import TEACHER_CONTEXT_VERSION, TeacherStep, finish_step, render_teacher_context

if TYPE_CHECKING:
    import duckdb

__all__ = ["register_sql_functions"]

_STEPS = msgspec.json.Decoder(list[TeacherStep])


def register_sql_functions(con: duckdb.DuckDBPyConnection) -> None:
    """Install ``teacher_context(goal, steps_json, concluded, answer)`` and ``teacher_context_version()`` in ``con``.

    ``steps_json`` is a JSON list of :class:`TeacherStep` objects in step order; ``concluded``
    whether the person ended the demonstration with the task done, ``answer`` their answer. The function
    is vectorised over Arrow arrays: one Python call per batch of demos, not per row.
    """
    installed = con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = 'teacher_context'"
    ).fetchall()
    if not installed[0][0]:
        con.create_function(
            "teacher_context",
            _teacher_context,
            ["VARCHAR", "VARCHAR", "BOOLEAN", "VARCHAR"],
            "VARCHAR",
            type="arrow",
            null_handling="special",  # a NULL answer (most tasks ask none) is an input, not a NULL result
            side_effects=False,
        )
    con.execute(f"CREATE OR REPLACE MACRO teacher_context_version() AS '{TEACHER_CONTEXT_VERSION}'")


def _teacher_context(goals: pa.Array, steps: pa.Array, concluded: pa.Array, answers: pa.Array) -> pa.Array:
    # DuckDB reads this signature's annotations at registration: pyarrow is imported at the top.
    texts = [
        None if goal is None or raw is None else render_teacher_context(goal, _steps(raw, ended, answer))
        for goal, raw, ended, answer in zip(
            goals.to_pylist(), steps.to_pylist(), concluded.to_pylist(), answers.to_pylist(), strict=True
        )
    ]
    return pa.array(texts, pa.string())


def _steps(raw: str, concluded: bool | None, answer: str | None) -> list[TeacherStep]:
    steps = _STEPS.decode(raw)
    return [*steps, finish_step(answer)] if concluded else steps
