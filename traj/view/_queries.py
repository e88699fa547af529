"""What the viewer shows, read only through the projections: lists, timelines, training runs, lineage.

One ``Projections`` connection serves every request; DuckDB connections are not safe to share
between threads, so queries take turns behind a lock (each is milliseconds on a local store).
"""

from __future__ import annotations

import threading
from typing import Any

import msgspec

from traj.eventlog import Store
from traj.projections import Projections

__all__ = ["NEAR_ZERO_KL", "SQL_ROW_LIMIT", "StoreView"]

SQL_ROW_LIMIT = 1000
"""Rows of a SQL box answer sent to the page; the total is reported beside them."""

NEAR_ZERO_KL = 1e-3
"""Below this the step-0 KL says the teacher barely differs from the student (as ``traj train`` warns)."""

_JSON_COLUMNS = frozenset(
    {"elements", "locators", "guards", "proposed", "action", "correction", "config", "dataset", "files"}
)

# Demos and runs side by side; `label` is the stream's latest whole-stream feedback.
_ITEMS = """
    WITH items AS (
        SELECT 'demo' AS kind, demo_id AS id, stream, task, goal, started_at, steps, success,
               source AS detail, position FROM demos
        UNION ALL
        SELECT 'run', run_id, stream, task, goal, started_at, steps, success,
               concat_ws(' · ', CASE WHEN mode = 'workflow' THEN 'workflow' END, nullif(backend, ''), adapter),
               position FROM runs)
    SELECT i.*, f.label FROM items i
    LEFT JOIN feedback f ON f.target = i.stream AND f.step IS NULL AND f.latest
"""

_DEMO_STEPS = """
    SELECT step, seq, action_id, kind, target, value, locators, url, title, elements, screenshot,
           NULL AS outcome, NULL AS raw_output, NULL AS guards, NULL AS error, NULL AS parse_method, NULL AS source
    FROM steps WHERE stream = $stream ORDER BY seq
"""

# A run step may have no action (the model's answer was rejected): its observation still shows.
# A workflow's own step (source workflow or healed) has neither: its run.step says what ran.
_RUN_STEPS = """
    SELECT o.step, o.seq, a.event_id AS action_id, a.kind, a.target, a.value, a.locators, o.url, o.title,
           o.elements, o.screenshot, r.outcome, r.raw_output, r.guards, r.error, r.parse_method,
           coalesce(r.source, 'agent') AS source
    FROM observations o
    LEFT JOIN actions a ON a.stream = o.stream AND a.step = o.step
    LEFT JOIN run_steps r ON r.stream = o.stream AND r.step = o.step
    WHERE o.stream = $stream
    UNION ALL
    SELECT r.step, NULL, NULL, r.action->>'kind', r.action->>'target', r.action->>'value', NULL, NULL, NULL,
           NULL, NULL, r.outcome, r.raw_output, r.guards, r.error, r.parse_method, r.source
    FROM run_steps r
    WHERE r.stream = $stream AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.stream = r.stream AND o.step = r.step)
    ORDER BY step, seq NULLS LAST
"""


class StoreView:
    """The viewer's reads over one store, as plain JSON-ready dicts."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._projections = Projections(store)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the projections connection."""
        with self._lock:
            self._projections.close()

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of one read-only statement, JSON columns decoded."""
        with self._lock:
            table = self._projections.query(sql, params)
        return [_decoded(row) for row in table.to_pylist()]

    def summary(self) -> dict[str, Any]:
        """Counts for the navigation bar and the tasks for the list's filter.

        Counted from the ``events`` view by type: the full views would parse every payload, and
        the page asks for this on every load.
        """
        by_type = {
            r["type"]: r["n"]
            for r in self.rows(
                "SELECT type, count(*) AS n FROM events WHERE type IN "
                "('demo.started', 'run.started', 'replay.started', 'train.started', 'feedback') GROUP BY type"
            )
        }
        adapters = self.rows("SELECT count(DISTINCT data->>'name') AS n FROM events WHERE type = 'adapter.created'")
        counts = {
            "demos": by_type.get("demo.started", 0),
            "runs": by_type.get("run.started", 0),
            "replays": by_type.get("replay.started", 0),
            "train_runs": by_type.get("train.started", 0),
            "feedback": by_type.get("feedback", 0),
            "adapters": adapters[0]["n"],
        }
        tasks = self.rows(
            "SELECT data->>'task' AS task, count(*) AS n FROM events "
            "WHERE type IN ('demo.started', 'run.started') GROUP BY ALL ORDER BY task"
        )
        return counts | {"tasks": tasks}

    def items(
        self,
        *,
        kind: str | None = None,
        task: str | None = None,
        outcome: str | None = None,
        search: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> dict[str, Any]:
        """One page of demos and runs, newest first, with each one's first screenshot as a thumbnail."""
        where, params = ["true"], {"limit": limit, "offset": offset}
        if kind:
            where.append("kind = $kind")
            params["kind"] = kind
        if task:
            where.append("task = $task")
            params["task"] = task
        if outcome:
            where.append({"success": "success", "failed": "NOT success", "unknown": "success IS NULL"}[outcome])
        if search:
            where.append("concat_ws(' ', id, task, goal, detail) ILIKE $search")
            params["search"] = f"%{search}%"
        rows = self.rows(
            f"SELECT *, count(*) OVER () AS total FROM ({_ITEMS}) WHERE {' AND '.join(where)} "
            "ORDER BY position DESC LIMIT $limit OFFSET $offset",
            params,
        )
        total = rows[0].pop("total") if rows else 0
        for row in rows[1:]:
            row.pop("total")
        if rows:
            thumbs = self.rows(
                "SELECT stream, arg_min(screenshot, seq) AS screenshot FROM observations "
                "WHERE list_contains($streams, stream) AND screenshot IS NOT NULL GROUP BY stream",
                {"streams": [r["stream"] for r in rows]},
            )
            by_stream = {t["stream"]: t["screenshot"] for t in thumbs}
            for row in rows:
                row["thumbnail"] = by_stream.get(row["stream"])
        return {"total": total, "offset": offset, "limit": limit, "rows": rows}

    def timeline(self, kind: str, stream_id: str) -> dict[str, Any] | None:
        """A demo or run step by step: screenshot, acted element's box, locator, enrichment, replay, feedback."""
        stream = f"{kind}/{stream_id}"
        header = self.rows(f"SELECT * FROM ({_ITEMS}) WHERE stream = $stream", {"stream": stream})
        if not header:
            return None
        steps = self.rows(_DEMO_STEPS if kind == "demo" else _RUN_STEPS, {"stream": stream})
        action_ids = [s["action_id"] for s in steps if s["action_id"]]
        enrichments = {
            e["action_id"]: e
            for e in self.rows(
                "SELECT action_id, model, explanation, element_rationale, expected_outcome, "
                "CAST(thinking_steps AS VARCHAR[]) AS thinking_steps FROM enrichments "
                "WHERE list_contains($ids, action_id) "
                "QUALIFY row_number() OVER (PARTITION BY action_id ORDER BY position DESC) = 1",
                {"ids": action_ids},
            )
        }
        replayed = {
            r["action_id"]: r
            for r in self.rows(
                "SELECT action_id, replay_id, status, strategy, locator, reason FROM replay_steps "
                "WHERE list_contains($ids, action_id) "
                "QUALIFY row_number() OVER (PARTITION BY action_id ORDER BY position DESC) = 1",
                {"ids": action_ids},
            )
        }
        labels = self.rows(
            "SELECT step, label, correction, note FROM feedback WHERE target = $stream AND latest", {"stream": stream}
        )
        by_step = {f["step"]: f for f in labels}
        for step in steps:
            elements = step.pop("elements") or []
            element = next((e for e in elements if e.get("agent_id") == step["target"]), None)
            step["element"] = element and {k: element.get(k) for k in ("tag", "role", "name", "bbox")}
            locators = step.pop("locators") or []
            step["locator"] = locators[0] if locators else None
            step["enrichment"] = enrichments.get(step["action_id"])
            step["replay"] = replayed.get(step["action_id"])
            step["feedback"] = by_step.get(step["step"])
        replays = self.rows(
            "SELECT replay_id, success, reason, ok_steps, healed_steps, failed_steps, started_at FROM replays "
            "WHERE demo_id = $id ORDER BY position DESC",
            {"id": stream_id},
        )
        return header[0] | {"timeline": steps, "replays": replays, "feedback": by_step.get(None)}

    def train_runs(self) -> list[dict[str, Any]]:
        """Every training job, newest first."""
        return self.rows(
            "SELECT job_id, objective, base_model, status, adapter, steps, last_loss, last_kl, started_at, "
            "finished_at FROM train_runs ORDER BY position DESC"
        )

    def train_run(self, job_id: str) -> dict[str, Any] | None:
        """One job: config, dataset, per-step metrics and the step-0 KL diagnosis."""
        found = self.rows("SELECT * EXCLUDE (stream) FROM train_runs WHERE job_id = $job", {"job": job_id})
        if not found:
            return None
        run = found[0]
        run["metrics"] = self.rows(
            "SELECT step, loss, kl, grad_norm, lr, tokens_per_s, teacher_drift, margin FROM kl_metrics "
            "WHERE job_id = $job ORDER BY step",
            {"job": job_id},
        )
        run["diagnosis"] = self._diagnosis(run)
        return run

    def _diagnosis(self, run: dict[str, Any]) -> dict[str, Any] | None:
        """The step-0 KL and the numbers behind its usual causes: as the job's ``train.diagnosis``
        recorded them (enrichment per step, teacher-vs-student accuracy), else what the log holds."""
        first = next((m for m in run["metrics"] if m["step"] == 0), None)
        if first is None or first["kl"] is None:
            return None
        recorded = self.rows(
            "SELECT data FROM events WHERE type = 'train.diagnosis' AND data->>'job_id' = $job "
            "ORDER BY position DESC LIMIT 1",
            {"job": run["job_id"]},
        )
        found = recorded[0]["data"] if recorded else {}
        if isinstance(found, str):
            found = msgspec.json.decode(found)
        if found:
            share = found["enriched_share"]
        else:
            ids = (run["dataset"] or {}).get("event_ids", [])
            enriched = self.rows(
                "SELECT count(DISTINCT action_id) AS n FROM enrichments WHERE list_contains($ids, action_id)",
                {"ids": ids},
            )[0]["n"]
            share = enriched / len(ids) if ids else 0.0
        near_zero = first["kl"] < NEAR_ZERO_KL
        alpha = (run["config"] or {}).get("ema_alpha")
        teacher, student = found.get("teacher_accuracy"), found.get("student_accuracy")
        unenriched = found.get("unenriched", [])
        causes = []
        if near_zero:
            enrichment = f"weak or missing enrichment: {share:.0%} of the steps are enriched (run 'traj enrich')"
            causes = [
                enrichment + "".join(f"; {line}" for line in unenriched),
                "in-context learning too weak for this model: the demonstration-conditioned teacher "
                + (
                    f"matches the demonstrated action {teacher:.0%} of the time vs the student's {student:.0%}"
                    if teacher is not None
                    else "does not beat the bare student"
                ),
                f"EMA alpha {alpha} too low for the teacher to follow (0.1-0.3 for 5-10 demonstrations)",
            ]
        return {
            "kl": first["kl"],
            "near_zero": near_zero,
            "enriched_share": share,
            "ema_alpha": alpha,
            "teacher_accuracy": teacher,
            "student_accuracy": student,
            "accuracy_on": found.get("accuracy_on"),
            "accuracy_steps": found.get("accuracy_steps"),
            "unenriched": unenriched,
            "causes": causes,
        }

    def adapters(self) -> dict[str, Any]:
        """Adapters (one row per name, formats merged), where each is loaded, and the lineage graph's edges."""
        adapters = self.rows(
            "SELECT name, any_value(job_id) AS job_id, any_value(base_model) AS base_model, "
            "list(DISTINCT format ORDER BY format) AS formats, max(path) FILTER (WHERE format = 'peft') AS peft_path, "
            "any_value(parent) AS parent, "
            "min(created_at) AS created_at, list_distinct(flatten(list(loaded_in))) AS loaded_in, "
            "min(position) AS position FROM adapters GROUP BY name ORDER BY position"
        )
        lineage = self.rows(
            "SELECT adapter, job_id, objective, dataset_view, as_of_position, "
            "count(DISTINCT source_event_id) AS events, list(DISTINCT demo_id) FILTER (WHERE demo_id IS NOT NULL) "
            "AS demos FROM lineage GROUP BY ALL ORDER BY adapter"
        )
        for adapter in adapters:
            adapter["rollback_to"] = _rollback_target(adapter, adapters)
        return {"adapters": adapters, "lineage": lineage}

    def sql(self, sql: str) -> dict[str, Any]:
        """The SQL box: one read-only statement; at most ``SQL_ROW_LIMIT`` rows come back."""
        with self._lock:
            table = self._projections.query(sql)
        shown = table.slice(0, SQL_ROW_LIMIT).to_pylist()
        return {"columns": table.column_names, "rows": shown, "total": table.num_rows}

    def views(self) -> dict[str, str]:
        """The projection views and what each holds, for the SQL box's help."""
        with self._lock:
            return self._projections.views()


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    for name in _JSON_COLUMNS.intersection(row):
        if isinstance(row[name], str):
            row[name] = msgspec.json.decode(row[name])
    return row


def _rollback_target(adapter: dict[str, Any], adapters: list[dict[str, Any]]) -> str | None:
    """What ``traj adapters rollback`` returns to from ``adapter``: its lineage parent, if that is
    still an adapter in the store (``None``: nothing earlier, the base model)."""
    names = {a["name"] for a in adapters}
    return adapter["parent"] if adapter["parent"] in names else None
