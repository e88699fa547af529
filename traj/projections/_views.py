"""The projection views: SQL over the ``events`` relation and nothing else.

Every view is a pure function of the log, so dropping and recreating them (or running them
over a copy of the events in one flat Parquet file) gives the same rows. Views are created
in dependency order; each carries a one-line description shown by ``traj query --views``.
"""

from __future__ import annotations

import duckdb

from traj.projections._decision_views import DECISION_VIEWS
from traj.projections._functions import register_sql_functions
from traj.projections._specialist_views import SPECIALIST_VIEWS

__all__ = ["VIEWS", "create_views"]

# name -> (description, SQL body). Order matters: later views read earlier ones.
VIEWS: dict[str, tuple[str, str]] = {
    "observations": (
        "every observation (page state) in any stream",
        """
        SELECT position, event_id, stream, seq, "at",
               CAST(data->>'step' AS INTEGER) AS step,
               data->>'url' AS url,
               data->>'title' AS title,
               data->>'text' AS text,
               data->'elements' AS elements,
               data->>'screenshot' AS screenshot
        FROM events WHERE type = 'observation'
        """,
    ),
    "actions": (
        "every action (decision) in any stream",
        """
        SELECT position, event_id, stream, seq, "at",
               CAST(data->>'step' AS INTEGER) AS step,
               data->>'kind' AS kind,
               data->>'target' AS target,
               data->>'value' AS value,
               data->'locators' AS locators,
               data->>'observation_id' AS observation_id,
               -- as traj.prompt.taught_action: a WAIT is taught without the seconds the person paused
               json_object('kind', data->>'kind', 'target', data->'target',
                           'value', CASE WHEN data->>'kind' = 'WAIT' THEN NULL ELSE data->'value' END) AS action_json
        FROM events WHERE type = 'action'
        """,
    ),
    "steps": (
        "one row per decision: the observation before, the action, the observation after",
        """
        WITH tasks AS (
            SELECT stream, data->>'task' AS task FROM events WHERE type IN ('demo.started', 'run.started')
            QUALIFY row_number() OVER (PARTITION BY stream ORDER BY position) = 1),
        with_before AS (
            SELECT a.*, o.event_id AS before_id, o.url AS before_url, o.title AS before_title,
                   o.text AS before_text, o.elements AS before_elements, o.screenshot AS before_screenshot
            FROM actions a ASOF LEFT JOIN observations o ON a.stream = o.stream AND a.seq > o.seq
        )
        SELECT split_part(b.stream, '/', 1) AS source,
               split_part(b.stream, '/', 2) AS stream_id,
               b.stream, t.task, b.step, b.seq, b.position, b."at",
               b.event_id AS action_id, b.kind, b.target, b.value, b.locators, b.action_json,
               b.before_id AS observation_id, b.before_url AS url, b.before_title AS title,
               b.before_text AS page_text, b.before_elements AS elements, b.before_screenshot AS screenshot,
               o.event_id AS next_observation_id, o.url AS next_url, o.text AS next_page_text,
               o.screenshot AS next_screenshot
        FROM with_before b ASOF LEFT JOIN observations o ON b.stream = o.stream AND b.seq < o.seq
        LEFT JOIN tasks t ON t.stream = b.stream
        """,
    ),
    "demos": (
        "demonstrations: task, goal, outcome, number of steps",
        """
        WITH n AS (SELECT stream, count(*) AS steps FROM actions WHERE stream LIKE 'demo/%' GROUP BY stream),
             fin AS (
                SELECT stream, "at", data FROM events WHERE type = 'demo.finished'
                QUALIFY row_number() OVER (PARTITION BY stream ORDER BY position DESC) = 1)
        SELECT s.data->>'demo_id' AS demo_id, s.stream, s.data->>'task' AS task, s.data->>'goal' AS goal,
               s.data->>'url' AS url, CAST(s.data->>'seed' AS BIGINT) AS seed, s.data->>'source' AS source,
               s."at" AS started_at, fin."at" AS finished_at,
               CAST(fin.data->>'success' AS BOOLEAN) AS success, fin.data->>'answer' AS answer,
               coalesce(n.steps, 0) AS steps, s.position
        FROM events s LEFT JOIN fin USING (stream) LEFT JOIN n USING (stream)
        WHERE s.type = 'demo.started'
        """,
    ),
    "runs": (
        "runs of a task: mode (workflow or agent), backend, adapter, outcome, steps in all and by source",
        """
        WITH n AS (SELECT stream, count(*) AS steps FROM actions WHERE stream LIKE 'run/%' GROUP BY stream),
             src AS (
                SELECT stream,
                       count(*) FILTER (WHERE data->>'source' = 'workflow') AS workflow_steps,
                       count(*) FILTER (WHERE data->>'source' = 'healed') AS healed_steps,
                       count(*) FILTER (WHERE data->>'source' = 'model') AS model_steps,
                       count(*) FILTER (WHERE coalesce(data->>'source', 'agent') = 'agent') AS agent_steps
                FROM events WHERE type = 'run.step' GROUP BY stream),
             fin AS (
                SELECT stream, "at", data FROM events WHERE type = 'run.finished'
                QUALIFY row_number() OVER (PARTITION BY stream ORDER BY position DESC) = 1)
        SELECT s.data->>'run_id' AS run_id, s.stream, s.data->>'task' AS task, s.data->>'goal' AS goal,
               s.data->>'url' AS url, CAST(s.data->>'seed' AS BIGINT) AS seed, s.data->>'backend' AS backend,
               s.data->>'model' AS model, s.data->>'adapter' AS adapter,
               CAST(s.data->>'constrained' AS BOOLEAN) AS constrained,
               s."at" AS started_at, fin."at" AS finished_at,
               CAST(fin.data->>'success' AS BOOLEAN) AS success, fin.data->>'answer' AS answer,
               fin.data->>'reason' AS reason,
               -- a workflow's own steps have no action event: they count by their run.step
               coalesce(n.steps, 0) + coalesce(src.workflow_steps + src.healed_steps, 0) AS steps,
               CASE WHEN s.data->>'demo_id' IS NULL THEN 'agent' ELSE 'workflow' END AS mode,
               s.data->>'demo_id' AS demo_id, s.data->>'replay_id' AS replay_id,
               coalesce(src.workflow_steps, 0) AS workflow_steps, coalesce(src.healed_steps, 0) AS healed_steps,
               coalesce(src.model_steps, 0) AS model_steps, coalesce(src.agent_steps, 0) AS agent_steps, s.position
        FROM events s LEFT JOIN fin USING (stream) LEFT JOIN n USING (stream) LEFT JOIN src USING (stream)
        WHERE s.type = 'run.started'
        """,
    ),
    "run_steps": (
        "each step of a run: who took it (source: workflow, healed, model, agent), raw output, action, guards, timings",
        """
        SELECT position, stream, "at", data->>'run_id' AS run_id, CAST(data->>'step' AS INTEGER) AS step,
               coalesce(data->>'source', 'agent') AS source,
               data->>'outcome' AS outcome, data->>'raw_output' AS raw_output,
               data->>'parse_method' AS parse_method,
               nullif(data->'proposed', 'null'::JSON) AS proposed, nullif(data->'action', 'null'::JSON) AS action,
               data->'guards' AS guards, data->>'error' AS error,
               CAST(data->>'confidence' AS DOUBLE) AS confidence,
               CAST(data->>'prompt_tokens' AS INTEGER) AS prompt_tokens,
               CAST(data->>'completion_tokens' AS INTEGER) AS completion_tokens,
               data->>'prompt_sha256' AS prompt_sha256, data->>'adapter' AS adapter,
               CAST(data->'timings_ms'->>'observe' AS DOUBLE) AS observe_ms,
               CAST(data->'timings_ms'->>'prompt' AS DOUBLE) AS prompt_ms,
               CAST(data->'timings_ms'->>'generate' AS DOUBLE) AS generate_ms,
               CAST(data->'timings_ms'->>'parse' AS DOUBLE) AS parse_ms,
               CAST(data->'timings_ms'->>'execute' AS DOUBLE) AS execute_ms,
               CAST(data->'timings_ms'->>'page_wait' AS DOUBLE) AS page_wait_ms
        FROM events WHERE type = 'run.step'
        """,
    ),
    "replay_steps": (
        "replayed steps: ok, healed or failed, the strategy that found the element, and who took it (source)",
        """
        SELECT position, stream, data->>'replay_id' AS replay_id, data->>'demo_id' AS demo_id,
               CAST(data->>'step' AS INTEGER) AS step, data->>'action_id' AS action_id,
               data->>'status' AS status, data->>'strategy' AS strategy, data->>'locator' AS locator,
               data->>'reason' AS reason, CAST(data->>'duration_ms' AS DOUBLE) AS duration_ms,
               data->>'screenshot' AS screenshot, coalesce(data->>'source', 'workflow') AS source,
               data->>'raw_output' AS raw_output, "at"
        FROM events WHERE type = 'replay.step'
        """,
    ),
    "replays": (
        "replays of demos: outcome and how many steps were ok, healed or failed, and how many the model took",
        """
        WITH st AS (
            SELECT data->>'replay_id' AS replay_id,
                   count(*) FILTER (WHERE data->>'status' = 'ok') AS ok_steps,
                   count(*) FILTER (WHERE data->>'status' = 'healed') AS healed_steps,
                   count(*) FILTER (WHERE data->>'status' = 'failed') AS failed_steps,
                   count(*) FILTER (WHERE data->>'source' = 'model') AS model_steps
            FROM events WHERE type = 'replay.step' GROUP BY 1),
             fin AS (
                SELECT data->>'replay_id' AS replay_id, "at", data FROM events WHERE type = 'replay.finished')
        SELECT s.data->>'replay_id' AS replay_id, s.data->>'demo_id' AS demo_id,
               CAST(s.data->>'seed' AS BIGINT) AS seed, s.data->>'url' AS url,
               CAST(fin.data->>'success' AS BOOLEAN) AS success, fin.data->>'reason' AS reason,
               coalesce(st.ok_steps, 0) AS ok_steps, coalesce(st.healed_steps, 0) AS healed_steps,
               coalesce(st.failed_steps, 0) AS failed_steps, coalesce(st.model_steps, 0) AS model_steps,
               s."at" AS started_at, fin."at" AS finished_at, s.position
        FROM events s LEFT JOIN st ON st.replay_id = s.data->>'replay_id'
        LEFT JOIN fin ON fin.replay_id = s.data->>'replay_id'
        WHERE s.type = 'replay.started'
        """,
    ),
    "enrichment_attempts": (
        "every enrichment and enrichment failure, in log order",
        """
        SELECT position, event_id, stream, "at", type = 'enrichment' AS valid,
               data->>'demo_id' AS demo_id, data->>'action_id' AS action_id, data->>'step_hash' AS step_hash,
               data->>'model' AS model, data->>'prompt_version' AS prompt_version,
               data->>'explanation' AS explanation, data->>'element_rationale' AS element_rationale,
               data->>'expected_outcome' AS expected_outcome, data->'thinking_steps' AS thinking_steps,
               data->>'reason' AS failure_reason, data->>'detail' AS failure_detail
        FROM events WHERE type IN ('enrichment', 'enrichment.failed')
        """,
    ),
    "enrichments": (
        "the latest valid enrichment per (step, model, prompt version)",
        """
        SELECT * EXCLUDE (valid, failure_reason, failure_detail) FROM enrichment_attempts WHERE valid
        QUALIFY row_number() OVER (PARTITION BY action_id, model, prompt_version ORDER BY position DESC) = 1
        """,
    ),
    "feedback": (
        "feedback labels; `latest` marks the label in force for (target, step)",
        """
        SELECT position, event_id, "at", data->>'target' AS target,
               split_part(data->>'target', '/', 1) AS target_kind,
               CAST(data->>'step' AS INTEGER) AS step, data->>'label' AS label,
               nullif(data->'correction', 'null'::JSON) AS correction, data->>'note' AS note,
               row_number() OVER (PARTITION BY data->>'target', data->>'step' ORDER BY position DESC) = 1 AS latest
        FROM events WHERE type = 'feedback'
        """,
    ),
    "train_runs": (
        "training jobs: objective, base model, dataset, status, last metrics",
        """
        WITH st AS (
                SELECT data->>'job_id' AS job_id, count(*) AS steps,
                       arg_max(CAST(data->>'loss' AS DOUBLE), position) AS last_loss,
                       arg_max(CAST(data->>'kl' AS DOUBLE), position) AS last_kl
                FROM events WHERE type = 'train.step' GROUP BY 1),
             fin AS (
                SELECT data->>'job_id' AS job_id, "at", data FROM events WHERE type = 'train.finished'
                QUALIFY row_number() OVER (PARTITION BY data->>'job_id' ORDER BY position DESC) = 1)
        SELECT s.data->>'job_id' AS job_id, s.stream, s.data->>'objective' AS objective,
               s.data->>'base_model' AS base_model, s.data->>'base_model_hash' AS base_model_hash,
               s.data->'config' AS config, s.data->'dataset' AS dataset,
               s.data->>'parent_adapter' AS parent_adapter,
               coalesce(fin.data->>'status', 'running') AS status, fin.data->>'adapter' AS adapter,
               fin.data->>'error' AS error, coalesce(st.steps, 0) AS steps, st.last_loss, st.last_kl,
               s."at" AS started_at, fin."at" AS finished_at, s.position
        FROM events s LEFT JOIN st ON st.job_id = s.data->>'job_id' LEFT JOIN fin ON fin.job_id = s.data->>'job_id'
        WHERE s.type = 'train.started'
        """,
    ),
    "kl_metrics": (
        "per-step training metrics: loss, KL, grad norm, lr, tokens/s, teacher drift",
        """
        SELECT data->>'job_id' AS job_id, CAST(data->>'step' AS INTEGER) AS step,
               CAST(data->>'loss' AS DOUBLE) AS loss, CAST(data->>'kl' AS DOUBLE) AS kl,
               CAST(data->>'grad_norm' AS DOUBLE) AS grad_norm, CAST(data->>'lr' AS DOUBLE) AS lr,
               CAST(data->>'tokens_per_s' AS DOUBLE) AS tokens_per_s,
               CAST(data->>'teacher_drift' AS DOUBLE) AS teacher_drift, "at", position,
               CAST(data->>'margin' AS DOUBLE) AS margin
        FROM events WHERE type = 'train.step'
        """,
    ),
    "adapters": (
        "adapters: how each was made and where it is loaded now",
        """
        WITH state AS (
            SELECT data->>'name' AS name, data->>'backend' AS backend, type = 'adapter.loaded' AS loaded
            FROM events WHERE type IN ('adapter.loaded', 'adapter.unloaded')
            QUALIFY row_number() OVER (PARTITION BY data->>'name', data->>'backend' ORDER BY position DESC) = 1)
        SELECT c.data->>'name' AS name, c.data->>'job_id' AS job_id, c.data->>'base_model' AS base_model,
               c.data->>'format' AS format, c.data->>'path' AS path, c.data->'files' AS files,
               c.data->>'parent' AS parent, c."at" AS created_at, c.position,
               coalesce(list(s.backend ORDER BY s.backend) FILTER (WHERE s.loaded), []) AS loaded_in
        FROM events c LEFT JOIN state s ON s.name = c.data->>'name'
        WHERE c.type = 'adapter.created'
        GROUP BY ALL
        """,
    ),
    "lineage": (
        "adapter -> training run -> dataset snapshot -> each source event and demo -> base model",
        """
        WITH src AS (
            SELECT t.data->>'job_id' AS job_id, t.data->>'objective' AS objective,
                   t.data->>'base_model' AS base_model, t.data->>'base_model_hash' AS base_model_hash,
                   t.data->'dataset'->>'view' AS dataset_view,
                   CAST(t.data->'dataset'->>'as_of_position' AS BIGINT) AS as_of_position,
                   unnest(CAST(t.data->'dataset'->'event_ids' AS VARCHAR[])) AS source_event_id
            FROM events t WHERE t.type = 'train.started')
        SELECT a.name AS adapter, a.parent AS parent_adapter, src.job_id, src.objective,
               src.dataset_view, src.as_of_position, src.source_event_id,
               e.stream AS source_stream, e.type AS source_type,
               CASE WHEN e.stream LIKE 'demo/%' THEN split_part(e.stream, '/', 2) END AS demo_id,
               src.base_model, src.base_model_hash
        FROM adapters a JOIN src ON src.job_id = a.job_id
        LEFT JOIN events e ON e.event_id = src.source_event_id
        """,
    ),
    "sdft_examples": (
        "SDFT training queries: the student's query, the teacher's privileged demonstration context, the target",
        """
        WITH enr AS (
            SELECT * FROM enrichments
            QUALIFY row_number() OVER (PARTITION BY action_id ORDER BY position DESC) = 1),
        ex AS (
            SELECT s.stream_id AS demo_id, s.stream, s.step, s.seq, s.action_id, s.kind, d.task, d.goal, s.url,
                   s.page_text, s.elements, s.action_json, s.position, enr.action_id IS NOT NULL AS enriched,
                   enr.model AS enrichment_model,
                   d.finished_at IS NOT NULL AND d.success IS DISTINCT FROM false AS concluded, d.answer,
                   struct_pack(action := CAST(s.action_json AS VARCHAR), explanation := enr.explanation,
                               element_rationale := enr.element_rationale, expected_outcome := enr.expected_outcome,
                               thinking_steps := CAST(enr.thinking_steps AS VARCHAR[])) AS teacher_step
            FROM steps s JOIN demos d ON d.stream = s.stream
            LEFT JOIN enr ON enr.action_id = s.action_id
            WHERE s.source = 'demo'),
        -- the whole demonstration, rendered once per demo by traj.prompt.render_teacher_context,
        -- ending with FINISH when the person ended it with the task done (Demo.concluded), unless it already does
        ctx AS (
            SELECT stream, teacher_context(
                       any_value(goal), CAST(to_json(list(teacher_step ORDER BY seq)) AS VARCHAR),
                       any_value(concluded) AND arg_max(kind, seq) <> 'FINISH', any_value(answer)) AS context
            FROM ex GROUP BY stream)
        SELECT ex.demo_id, ex.stream, ex.step, ex.action_id, ex.task, ex.goal,
               concat('Goal: ', ex.goal, chr(10), 'URL: ', ex.url, chr(10), 'Page:', chr(10), ex.page_text) AS query,
               ex.elements, ctx.context,
               CASE WHEN ex.enriched THEN 'enrichment' ELSE 'raw_action' END AS context_source,
               teacher_context_version() AS context_version,
               ex.enrichment_model, ex.action_json AS target, ex.position
        FROM ex JOIN ctx ON ctx.stream = ex.stream
        """,
    ),
    "sft_pairs": (
        "supervised pairs: demonstrated steps, steps of runs judged good, and corrections",
        """
        WITH run_labels AS (SELECT target, label FROM feedback WHERE latest AND step IS NULL),
             step_labels AS (SELECT target, step, label, correction FROM feedback WHERE latest AND step IS NOT NULL),
             q AS (
                SELECT s.*, coalesce(d.goal, r.goal) AS goal, coalesce(d.task, r.task) AS task,
                       concat('Goal: ', coalesce(d.goal, r.goal), chr(10), 'URL: ', s.url, chr(10), 'Page:', chr(10),
                              s.page_text) AS prompt
                FROM steps s LEFT JOIN demos d ON d.stream = s.stream LEFT JOIN runs r ON r.stream = s.stream
                WHERE s.source IN ('demo', 'run'))
        SELECT q.stream, q.step, q.action_id, q.task, q.prompt, q.action_json AS completion,
               CASE WHEN q.source = 'demo' THEN 'demonstration' ELSE 'good_run' END AS origin, q.position
        FROM q LEFT JOIN run_labels rl ON rl.target = q.stream
        LEFT JOIN step_labels sl ON sl.target = q.stream AND sl.step = q.step
        WHERE coalesce(sl.label, rl.label, CASE WHEN q.source = 'demo' THEN 'good' END) = 'good'
        UNION ALL
        SELECT q.stream, q.step, q.action_id, q.task, q.prompt, CAST(sl.correction AS VARCHAR) AS completion,
               'correction' AS origin, q.position
        FROM q JOIN step_labels sl ON sl.target = q.stream AND sl.step = q.step
        WHERE sl.correction IS NOT NULL AND sl.label = 'bad'
        """,
    ),
    "preference_pairs": (
        "preference pairs for the same context: the corrected action (chosen) over the taken one (rejected)",
        """
        SELECT s.stream, s.step, s.action_id,
               concat('Goal: ', coalesce(d.goal, r.goal), chr(10), 'URL: ', s.url, chr(10), 'Page:', chr(10),
                      s.page_text) AS prompt,
               CAST(f.correction AS VARCHAR) AS chosen,
               -- on a step handed to a person, the action event is theirs: the agent's is the run.step's
               CASE WHEN h.stream IS NULL THEN s.action_json
                    ELSE json_object('kind', h.action->>'kind', 'target', h.action->'target',
                                     'value', h.action->'value') END AS rejected,
               f.note, f.position
        FROM feedback f JOIN steps s ON s.stream = f.target AND s.step = f.step
        LEFT JOIN demos d ON d.stream = s.stream LEFT JOIN runs r ON r.stream = s.stream
        LEFT JOIN run_steps h ON h.stream = s.stream AND h.step = s.step AND h.outcome = 'corrected'
        WHERE f.latest AND f.label = 'bad' AND f.correction IS NOT NULL
        """,
    ),
}
VIEWS |= DECISION_VIEWS | SPECIALIST_VIEWS


def create_views(con: duckdb.DuckDBPyConnection, events_relation: str = "events") -> None:
    """Create every projection view in ``con`` over ``events_relation`` (any relation with the log's columns).

    Also installs the SQL functions the views call (the teacher context of ``sdft_examples``).
    """
    register_sql_functions(con)
    if events_relation != "events":
        con.execute(f"CREATE OR REPLACE VIEW events AS SELECT * FROM {events_relation}")
    for name, (_, body) in VIEWS.items():
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {body}")
