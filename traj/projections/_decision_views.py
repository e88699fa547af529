"""Decision rows: every judged decision of a demo or a run, with the label in force.

The rules, all from the log: a demonstrated step is good unless a person said otherwise; a
run's step takes its own step label, else the run's label, else it is unlabelled (and left
out); a workflow's own steps (source ``workflow``/``healed``) are no model's decisions and
have no observation or action event, so they are never rows here; a bad step with a
correction adds a second row, the corrected action in the same context, labelled good. The
latest feedback per (target, step) wins. A run's step is judged by what the agent chose: on
a step it handed to a person (outcome ``corrected``), the ``action`` event is the person's and
the agent's choice is the ``run.step``'s. These views hold row identity and labels;
:mod:`traj.datasets` renders each row's prompt from the observation it names, as the agent
would see it.
"""

from __future__ import annotations

__all__ = ["DECISION_VIEWS"]

_LABELS = """
    run_labels AS (SELECT target, label, event_id FROM feedback WHERE latest AND step IS NULL),
    step_labels AS (
        SELECT target, step, label, correction, event_id, position FROM feedback WHERE latest AND step IS NOT NULL),
    pages AS (
        SELECT stream, step, event_id FROM observations
        QUALIFY row_number() OVER (PARTITION BY stream, step ORDER BY seq DESC) = 1)
"""

DECISION_VIEWS: dict[str, tuple[str, str]] = {
    "decisions": (
        "labelled decisions: demonstrated and judged steps (good/bad) and corrections (good)",
        f"""
        WITH starts AS (
            SELECT stream, data->>'task' AS task, data->>'goal' AS goal FROM events
            WHERE type IN ('demo.started', 'run.started')
            QUALIFY row_number() OVER (PARTITION BY stream ORDER BY position) = 1),
        {_LABELS},
        handed AS (SELECT stream, step, action FROM run_steps WHERE outcome = 'corrected'),
        chosen AS (
            SELECT s.* REPLACE (
                       coalesce(h.action->>'kind', s.kind) AS kind,
                       CASE WHEN h.stream IS NULL THEN s.target ELSE h.action->>'target' END AS target,
                       CASE WHEN h.stream IS NULL THEN s.value ELSE h.action->>'value' END AS value,
                       CASE WHEN h.stream IS NULL THEN s.action_json
                            ELSE json_object('kind', h.action->>'kind', 'target', h.action->'target',
                                             'value', h.action->'value') END AS action_json)
            FROM steps s LEFT JOIN handed h ON h.stream = s.stream AND h.step = s.step),
        taken AS (
            SELECT s.stream, s.source, s.stream_id, st.task, st.goal, s.step, s.observation_id, s.action_id,
                   s.kind, s.target, s.value, s.action_json AS action,
                   coalesce(sl.label, rl.label, CASE WHEN s.source = 'demo' THEN 'good' END) AS label,
                   CASE WHEN sl.label IS NOT NULL THEN 'step_feedback'
                        WHEN rl.label IS NOT NULL THEN 'run_feedback'
                        WHEN s.source = 'demo' THEN 'demonstration' END AS origin,
                   coalesce(sl.event_id, rl.event_id) AS feedback_id, s.position
            FROM chosen s JOIN starts st ON st.stream = s.stream
            LEFT JOIN run_labels rl ON rl.target = s.stream
            LEFT JOIN step_labels sl ON sl.target = s.stream AND sl.step = s.step
            WHERE s.source IN ('demo', 'run'))
        SELECT * FROM taken WHERE label IS NOT NULL
        UNION ALL
        SELECT sl.target AS stream, split_part(sl.target, '/', 1) AS source,
               split_part(sl.target, '/', 2) AS stream_id, st.task, st.goal, sl.step,
               coalesce(t.observation_id, p.event_id) AS observation_id, NULL AS action_id,
               sl.correction->>'kind' AS kind, sl.correction->>'target' AS target,
               sl.correction->>'value' AS value,
               json_object('kind', sl.correction->>'kind', 'target', sl.correction->'target',
                           'value', sl.correction->'value') AS action,
               'good' AS label, 'correction' AS origin, sl.event_id AS feedback_id, sl.position
        FROM step_labels sl JOIN starts st ON st.stream = sl.target
        LEFT JOIN taken t ON t.stream = sl.target AND t.step = sl.step
        LEFT JOIN pages p ON p.stream = sl.target AND p.step = sl.step
        WHERE sl.label = 'bad' AND sl.correction IS NOT NULL
        """,
    ),
    "decision_pairs": (
        "preference pairs for one context: the corrected action (chosen) over the judged one (rejected)",
        """
        SELECT w.stream, w.source, w.task, w.goal, w.step, w.observation_id, w.action_id,
               c.action AS chosen, w.action AS rejected, c.feedback_id, c.position
        FROM decisions c JOIN decisions w ON w.feedback_id = c.feedback_id AND w.origin = 'step_feedback'
        WHERE c.origin = 'correction'
        """,
    ),
    "run_decisions": (
        "every step a model decided in a run (the agent's, a workflow's model fallback's) with its page, "
        "what the model said and did, and the label in force",
        f"""
        WITH {_LABELS},
        acts AS (SELECT stream, step, event_id FROM actions WHERE stream LIKE 'run/%')
        SELECT r.stream, r.run_id, r.step, r.source, r.outcome, r.raw_output, r.proposed, r.action, r.error,
               p.event_id AS observation_id, a.event_id AS action_id,
               coalesce(sl.label, rl.label) AS label, r.position
        FROM run_steps r LEFT JOIN pages p ON p.stream = r.stream AND p.step = r.step
        LEFT JOIN acts a ON a.stream = r.stream AND a.step = r.step
        LEFT JOIN run_labels rl ON rl.target = r.stream
        LEFT JOIN step_labels sl ON sl.target = r.stream AND sl.step = r.step
        -- a workflow's own steps repeat the person's decisions: no model decided them
        WHERE r.source IN ('agent', 'model')
        """,
    ),
}
"""name -> (description, SQL); appended to :data:`traj.projections.VIEWS` after ``feedback``'s dependants."""
