"""Improvement jobs and specialists: which adapter the agent loads for a task, and why.

A job's state is its latest ``improvement.created``/``improvement.updated`` event (each holds
the whole spec); a task's specialist is the adapter named by the latest ``specialist.*``
event on ``specialist/<task>``, so a rollback is one more event, never an edit.
"""

from __future__ import annotations

__all__ = ["SPECIALIST_VIEWS"]

SPECIALIST_VIEWS: dict[str, tuple[str, str]] = {
    "improvement_jobs": (
        "improvement jobs: scope (task or agent), objective, settings, how often they ran, their latest adapter",
        """
        WITH spec AS (
                SELECT data->>'job' AS job, data->>'scope' AS scope, data->>'target' AS target,
                       data->>'objective' AS objective, data->'settings' AS settings, data->>'note' AS note,
                       "at" AS updated_at, position
                FROM events WHERE type IN ('improvement.created', 'improvement.updated')
                QUALIFY row_number() OVER (PARTITION BY data->>'job' ORDER BY position DESC) = 1),
             created AS (SELECT data->>'job' AS job, "at" AS created_at FROM events WHERE type = 'improvement.created'),
             ran AS (
                SELECT data->>'job' AS job, count(*) AS runs, arg_max(data->>'adapter', position) AS last_adapter,
                       max("at") AS last_run_at
                FROM events WHERE type = 'improvement.ran' GROUP BY 1)
        SELECT spec.job, spec.scope, spec.target, spec.objective, spec.settings, spec.note, created.created_at,
               spec.updated_at, coalesce(ran.runs, 0) AS runs, ran.last_adapter, ran.last_run_at, spec.position
        FROM spec JOIN created USING (job) LEFT JOIN ran USING (job)
        """,
    ),
    "improvement_runs": (
        "each run of an improvement job: the training job, the adapter it made, its parent, whether it was registered",
        """
        SELECT data->>'job' AS job, data->>'train_job_id' AS train_job_id, data->>'adapter' AS adapter,
               data->>'parent' AS parent, CAST(data->>'registered' AS BOOLEAN) AS registered, "at", position
        FROM events WHERE type = 'improvement.ran'
        """,
    ),
    "specialist_history": (
        "every change of a task's specialist: registered or rolled back, from which adapter to which",
        """
        SELECT data->>'task' AS task, data->>'adapter' AS adapter,
               CASE type WHEN 'specialist.registered' THEN 'registered' ELSE 'rolled_back' END AS change,
               data->>'previous' AS previous, data->>'reason' AS reason, data->>'note' AS note, "at", position, seq
        FROM events WHERE type IN ('specialist.registered', 'specialist.rolled_back')
        """,
    ),
    "specialists": (
        "the adapter in force as each task's specialist (what 'traj run --task' loads by default)",
        """
        SELECT * FROM specialist_history
        QUALIFY row_number() OVER (PARTITION BY task ORDER BY position DESC) = 1
        """,
    ),
    "task_adapters": (
        "adapters of each task: trained on its demos or runs, made by a job scoped to it, or registered for it",
        """
        WITH stream_tasks AS (SELECT stream, task FROM demos UNION ALL SELECT stream, task FROM runs),
             linked AS (
                SELECT t.task, l.adapter AS name, 'data' AS via
                FROM lineage l JOIN stream_tasks t ON t.stream = l.source_stream
                UNION ALL
                SELECT j.target, r.adapter, 'job' FROM improvement_runs r JOIN improvement_jobs j USING (job)
                WHERE j.scope = 'task'
                UNION ALL
                SELECT task, adapter, 'registered' FROM specialist_history)
        SELECT task, name, list(DISTINCT via ORDER BY via) AS via FROM linked
        WHERE name IN (SELECT name FROM adapters)
        GROUP BY task, name
        """,
    ),
}
