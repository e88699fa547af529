"""A DuckDB connection whose views read the store's sealed segments plus its WAL tail."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from traj.errors import QueryError
from traj.eventlog import EVENT_SCHEMA, Snapshot, Store
from traj.projections._materialized import MATERIALIZED, MaterializedView
from traj.projections._views import VIEWS, create_views

__all__ = ["Projections"]

_EMPTY_SEALED = "SELECT * FROM _wal_tail WHERE false"
_EXPLAIN_PREFIX = re.compile(r"\s*EXPLAIN\s+(?:ANALY[SZ]E\s+|\([^)]*\)\s*)?", re.IGNORECASE)
_ATTEMPTS = 10
"""Snapshots a query tries while a writer keeps merging segments away under it, before giving up."""

T = TypeVar("T")


class Projections:
    """Query the projections of a store with SQL.

    The ``events`` view is the sealed Parquet segments followed by the WAL tail held in
    memory (registered as an Arrow table, no copy). ``refresh()`` picks up what was appended
    or sealed since; it is called before every query. ``as_of`` pins every view to the
    events before that global position, so a dataset can be rebuilt exactly as it was.
    """

    def __init__(self, store: Store, *, as_of: int | None = None, threads: int | None = None) -> None:
        self.store = store
        self.as_of = as_of
        self._con = duckdb.connect(config={"threads": threads} if threads else {})
        self._lock_down(store)
        self.damaged: dict[str, str] = {}
        """Segments left out of every view because they failed their check: file -> problem."""
        self._end = 0
        self._segment_paths: list[str] | None = None
        # Created over a log without segments, the views bind without opening a file that a
        # compaction could delete meanwhile; refresh() then points them at the segments.
        self._con.register("_wal_tail", EVENT_SCHEMA.empty_table())
        self._read_segments([])
        create_views(self._con, "_log")
        self._materialized = {name: MaterializedView(self._con, name, "_log") for name in MATERIALIZED}
        self.refresh()

    def refresh(self) -> None:
        """Bring the ``events`` view up to the store's latest acknowledged event."""
        self._on_latest_snapshot(lambda: None)

    def query(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run one read-only statement (SELECT, EXPLAIN) over the projections; return an Arrow table.

        Statements that could write (COPY, CREATE, ATTACH, SET, ...) are refused, so a query
        can never touch the store's files.
        """
        self._check_read_only(sql)
        return self._on_latest_snapshot(lambda: self._run(sql, params))

    def _run(self, sql: str, params: list[Any] | dict[str, Any] | None) -> pa.Table:
        for name, view in self._materialized.items():
            # A mention is enough (a false one costs a refresh); DuckDB's own
            # get_table_names fails to bind ASOF joins.
            if re.search(rf"\b{name}\b", sql, re.IGNORECASE):
                view.refresh(self._end)
        return self._con.sql(sql, params=params).to_arrow_table()

    def _on_latest_snapshot(self, work: Callable[[], T]) -> T:
        """Point the views at the store's latest snapshot and run ``work``; again on a newer one if it lost a file.

        A compaction lists the merged segment in the manifest, then deletes the segments it
        replaces: a snapshot taken just before names files that may be gone when DuckDB opens
        them. Segments are immutable and a snapshot is whole, so the newer manifest gives the
        same rows (and any appended since). A file missing under an unchanged manifest is
        damage, reported at once.
        """
        for attempt in range(1, _ATTEMPTS + 1):
            snapshot = self._snapshot()
            try:
                self._read(snapshot)
                return work()
            except duckdb.IOException as exc:
                if self._snapshot().segments == snapshot.segments:
                    raise QueryError(_one_line(exc)) from None
                if attempt == _ATTEMPTS:
                    raise QueryError(
                        f"{_one_line(exc)} (a writer merged segments away under {_ATTEMPTS} tries in a row; try again)"
                    ) from None
            except duckdb.Error as exc:
                raise QueryError(_one_line(exc)) from None
        raise AssertionError("unreachable")

    def _snapshot(self) -> Snapshot:
        """The store's latest snapshot, where a segment reported missing was not merged away meanwhile.

        A reader checks a segment when it first lists it; one that a compaction deleted just
        after the reader read the manifest is reported missing, yet the newer manifest no
        longer names it: looking again tells the two apart.
        """
        snapshot = self.store.snapshot()
        for _ in range(_ATTEMPTS):
            if not snapshot.damaged:
                break
            newer = self.store.snapshot()
            if newer.segments == snapshot.segments:
                break  # the same manifest: the damage is real
            snapshot = newer
        return snapshot

    def _read(self, snapshot: Snapshot) -> None:
        """Point the views at ``snapshot``: its healthy segments and its WAL tail."""
        self.damaged = snapshot.damaged
        self._con.register("_wal_tail", snapshot.tail)
        self._read_segments(snapshot.segment_paths)
        self._end = snapshot.end if self.as_of is None else min(snapshot.end, self.as_of)

    def _read_segments(self, paths: list[str]) -> None:
        if paths == self._segment_paths:
            return
        self._segment_paths = None  # until both views exist: binding them opens the files, and can fail
        sealed = f"SELECT * FROM read_parquet({paths!r})" if paths else _EMPTY_SEALED
        self._con.execute(f"CREATE OR REPLACE VIEW _sealed AS {sealed}")
        pinned = "" if self.as_of is None else f" WHERE position < {int(self.as_of)}"
        self._con.execute(
            f"CREATE OR REPLACE VIEW _log AS SELECT * FROM (SELECT * FROM _sealed UNION ALL "
            f"SELECT * FROM _wal_tail){pinned}"
        )
        self._segment_paths = paths

    def views(self) -> dict[str, str]:
        """The projection views and what each holds."""
        return {"events": "every event, in log order (the envelope with its JSON payload)"} | {
            name: description for name, (description, _) in VIEWS.items()
        }

    def _lock_down(self, store: Store) -> None:
        """Let SQL read the store's segments and nothing else on disk, and never change that.

        The statement check in ``query`` is the first line of defence; this one holds even
        for a statement it misjudges (a table function reading ``/etc``, a ``COPY`` hidden
        somewhere), because DuckDB itself then refuses every other file.
        """
        self._con.execute("SET temp_directory = ''")  # no spilling: nothing but segments/ is reachable
        self._con.execute("SET allowed_directories = ?", [[f"{store.home / 'segments'}/"]])
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET lock_configuration = true")

    def _check_read_only(self, sql: str) -> None:
        """Refuse all but one SELECT, or an EXPLAIN of one (EXPLAIN ANALYZE runs its statement)."""
        statement = self._one_statement(sql)
        if statement.type == duckdb.StatementType.EXPLAIN:
            prefix = _EXPLAIN_PREFIX.match(statement.query)
            statement = self._one_statement(statement.query[prefix.end() :]) if prefix else statement
        if statement.type != duckdb.StatementType.SELECT:
            raise QueryError(f"only SELECT queries (and EXPLAIN of one) are allowed, not {statement.type.name}")

    def _one_statement(self, sql: str) -> duckdb.Statement:
        try:
            statements = self._con.extract_statements(sql)
        except duckdb.Error as exc:
            raise QueryError(_one_line(exc)) from None
        if len(statements) != 1:
            raise QueryError(f"expected exactly one SQL statement, got {len(statements)}")
        return statements[0]

    def close(self) -> None:
        """Close the DuckDB connection."""
        self._con.close()

    def __enter__(self) -> Projections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else type(exc).__name__
