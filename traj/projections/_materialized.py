"""Materialised projections: views worth keeping as tables, maintained incrementally.

``sdft_examples`` joins every demo step with its page, its demo and its latest enrichment;
computed from scratch it costs seconds per million events, while a training loop reads it
again and again. So a ``Projections`` connection keeps it as a table, built on first use
and then refreshed by recomputing only the demo streams that new events touched: a demo
stream that gained events, and a demo whose action just got an enrichment. Because the
recomputation runs the view's own SQL over those streams, the table always equals the view
rebuilt from scratch (the stateful tests hold it to that).

Picking those streams' events out of the log must not read the whole log's payloads: a
Parquet scan decompresses the ``data`` column of every row group it cannot skip. So the
refresh first finds the positions it needs from narrow columns (``stream``, ``position``)
and a small index of which action each enrichment is about (parsed from the JSON once per
event, as it arrives), then reads whole events only from the first of those positions on,
where row-group statistics skip everything older.
"""

from __future__ import annotations

import duckdb

from traj.projections._views import VIEWS

__all__ = ["MATERIALIZED", "MaterializedView", "standalone_query"]

_ENRICHMENT_TYPES = "('enrichment', 'enrichment.failed')"


def standalone_query(name: str, events_sql: str) -> str:
    """SQL computing view ``name`` from ``events_sql`` alone, the views it builds on inlined as CTEs.

    CTE names shadow the connection's views, so the same view bodies run over a subset of
    the log (DuckDB drops the CTEs the final query does not use).
    """
    names = list(VIEWS)
    ctes = [f"events AS ({events_sql})"]
    ctes += [f"{view} AS ({VIEWS[view][1]})" for view in names[: names.index(name)]]
    return f"WITH {', '.join(ctes)} SELECT * FROM ({VIEWS[name][1]})"


class MaterializedView:
    """One view kept as a table of the same name, partitioned by its ``stream`` column (a demo stream).

    ``log`` names the relation holding the whole log (the connection's ``events`` reads it
    too); the table reflects the events below ``watermark``.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, log: str) -> None:
        self.con = con
        self.name = name
        self.log = log
        self.watermark: int | None = None
        """One past the last position the table reflects; None until it is first built."""

    def refresh(self, end: int) -> None:
        """Bring the table up to the log's ``end`` (one past its last position).

        All or nothing: a refresh that fails part way (a segment merged away under it) leaves
        the table and its index as they were, so the caller can run it again on a newer snapshot.
        """
        if self.watermark is not None and end <= self.watermark:
            return
        self.con.execute("BEGIN TRANSACTION")
        try:
            if self.watermark is None:
                self._build()
            else:
                self._update(self.watermark)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.watermark = end

    def _build(self) -> None:
        self.con.execute(f"DROP VIEW IF EXISTS {self.name}")
        self.con.execute(f"CREATE TABLE {self.name} AS {standalone_query(self.name, f'SELECT * FROM {self.log}')}")
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {self._enrichments} (action_id VARCHAR, position BIGINT)")
        self._index_enrichments(0)

    @property
    def _enrichments(self) -> str:
        """The table of (action_id, position) of every enrichment event below the watermark."""
        return f"_{self.name}_enrichments"

    def _index_enrichments(self, since: int) -> None:
        self.con.execute(
            f"""
            INSERT INTO {self._enrichments}
            SELECT data->>'action_id', position FROM {self.log}
            WHERE position >= {since} AND type IN {_ENRICHMENT_TYPES}
            """
        )

    def _update(self, since: int) -> None:
        """Recompute the demo streams touched by events at positions >= ``since``."""
        con = self.con
        self._index_enrichments(since)
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _touched AS
            SELECT DISTINCT stream FROM {self.log} WHERE position >= {since} AND stream LIKE 'demo/%'
            UNION
            SELECT stream FROM {self.name} WHERE action_id IN (
                SELECT action_id FROM {self._enrichments} WHERE position >= {since})
            """
        )
        # The positions of the touched streams' events, plus the enrichments of their actions
        # wherever they live: read from narrow columns and the index, never the payloads.
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _scope AS
            WITH own AS (SELECT position, type, event_id FROM {self.log}
                         WHERE stream IN (SELECT stream FROM _touched))
            SELECT position FROM own
            UNION ALL
            SELECT position FROM {self._enrichments}
            WHERE action_id IN (SELECT event_id FROM own WHERE type = 'action')
            """
        )
        (first,) = con.execute("SELECT min(position) FROM _scope").fetchone()
        if first is None:  # nothing appended since touches a demo
            return
        scoped = f"SELECT * FROM {self.log} WHERE position >= {first} AND position IN (SELECT position FROM _scope)"
        con.execute(f"DELETE FROM {self.name} WHERE stream IN (SELECT stream FROM _touched)")
        con.execute(f"INSERT INTO {self.name} {standalone_query(self.name, scoped)}")


MATERIALIZED = ("sdft_examples",)
"""Views a Projections connection keeps as incrementally maintained tables."""
