"""A DuckDB connection whose views read the store's sealed segments plus its WAL tail."""

from __future__ import annotations

import re
from typing import Any

import duckdb
import pyarrow as pa

from traj.errors import QueryError
from traj.eventlog import Store
from traj.projections._materialized import MATERIALIZED, MaterializedView
from traj.projections._views import VIEWS, create_views

__all__ = ["Projections"]

_EMPTY_SEALED = "SELECT * FROM _wal_tail WHERE false"
_EXPLAIN_PREFIX = re.compile(r"\s*EXPLAIN\s+(?:ANALY[SZ]E\s+|\([^)]*\)\s*)?", re.IGNORECASE)


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
        self._segment_paths: list[str] | None = None
        self.damaged: dict[str, str] = {}
        """Segments left out of every view because they failed their check: file -> problem."""
        self._end = 0
        self.refresh()
        create_views(self._con, "_log")
        self._materialized = {name: MaterializedView(self._con, name, "_log") for name in MATERIALIZED}

    def refresh(self) -> None:
        """Bring the ``events`` view up to the store's latest acknowledged event."""
        snapshot = self.store.snapshot()
        self.damaged = snapshot.damaged
        self._con.register("_wal_tail", snapshot.tail)
        paths = snapshot.segment_paths
        if paths != self._segment_paths:
            sealed = f"SELECT * FROM read_parquet({paths!r})" if paths else _EMPTY_SEALED
            self._con.execute(f"CREATE OR REPLACE VIEW _sealed AS {sealed}")
            self._segment_paths = paths
            pinned = "" if self.as_of is None else f" WHERE position < {int(self.as_of)}"
            self._con.execute(
                f"CREATE OR REPLACE VIEW _log AS SELECT * FROM (SELECT * FROM _sealed UNION ALL "
                f"SELECT * FROM _wal_tail){pinned}"
            )
        self._end = snapshot.end if self.as_of is None else min(snapshot.end, self.as_of)

    def query(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run one read-only statement (SELECT, EXPLAIN) over the projections; return an Arrow table.

        Statements that could write (COPY, CREATE, ATTACH, SET, ...) are refused, so a query
        can never touch the store's files.
        """
        self._check_read_only(sql)
        for attempt in range(2):
            self.refresh()
            try:
                for name, view in self._materialized.items():
                    # A mention is enough (a false one costs a refresh); DuckDB's own
                    # get_table_names fails to bind ASOF joins.
                    if re.search(rf"\b{name}\b", sql, re.IGNORECASE):
                        view.refresh(self._end)
                return self._con.sql(sql, params=params).to_arrow_table()
            except duckdb.IOException as exc:
                if attempt == 0:
                    continue  # a writer merged segments under us; the refreshed list is valid
                raise QueryError(_one_line(exc)) from None
            except duckdb.Error as exc:
                raise QueryError(_one_line(exc)) from None
        raise AssertionError("unreachable")

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
