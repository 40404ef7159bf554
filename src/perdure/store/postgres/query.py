"""Read-only SQL over the introspection views: the PostgreSQL store's `query` capability.

Read-only by construction, not by looking at the SQL:

* queries connect as their own login role (`schema.QueryRole`), which has CONNECT on the
  database, USAGE on schema `perdure_sys` and SELECT on its views, and nothing else: not
  perdure's tables (the views read them with their owner's rights), not membership in
  any other role (so `SET ROLE` cannot climb back);
* each runs in a `READ ONLY` transaction with a `statement_timeout`, rolled back after;
* it is sent with the extended protocol (one statement: `SELECT 1; SELECT 2` is refused
  by the server) and streamed, so the row limit stops reading instead of buffering;
* a connection goes back to the pool through `DISCARD ALL` (no session state, such as an
  advisory lock or a prepared statement, outlives a query).

Values come back as plain Python (int, float, str, bytes, bool): numerics become int or
float, timestamps RFC 3339 text, so the admin API renders them as it renders SQLite's.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import uuid
from typing import Any

import psycopg
from psycopg.types.composite import CompositeInfo, register_composite
from psycopg_pool import ConnectionPool

from perdure.store import introspection
from perdure.store.api import QueryBusy, QueryError, QueryResult
from perdure.store.postgres.views import DECODED_TYPES, SCHEMA

ROW_LIMIT = 10_000
TIME_LIMIT_S = 10.0
MAX_CONCURRENT = 4


def _plain(value: object) -> object:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class PostgresQueryRunner:
    """A small pool of query-role connections; queries run on threads, a few at a time."""

    def __init__(
        self,
        conninfo: str,
        *,
        row_limit: int = ROW_LIMIT,
        time_limit_s: float = TIME_LIMIT_S,
    ) -> None:
        self._row_limit = row_limit
        self._time_limit_ms = int(time_limit_s * 1000)
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._types: list[tuple[CompositeInfo, Any]] | None = None
        self._pool = ConnectionPool(
            conninfo,
            min_size=0,
            max_size=MAX_CONCURRENT,
            # Never prepared: DISCARD ALL (on return to the pool) drops prepared statements.
            kwargs={
                "autocommit": True,
                "application_name": "perdure-query",
                "prepare_threshold": None,
            },
            configure=self._configure,
            reset=self._reset,
            # A connection cut by a server restart is replaced, not handed to a query.
            check=ConnectionPool.check_connection,
            open=False,
            name="perdure-query",
        )

    def open(self) -> None:
        """Connect once now, so a role that cannot log in fails the store's open."""
        self._pool.open(wait=False)
        with self._pool.connection(timeout=10.0):
            pass

    def close(self) -> None:
        self._pool.close()

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        if self._types is None:
            types = []
            for name, _, decode in DECODED_TYPES:
                info = CompositeInfo.fetch(conn, f"{SCHEMA}.{name}")
                assert info is not None, f"type {SCHEMA}.{name} is missing"
                types.append((info, decode))
            self._types = types
        for info, decode in self._types:
            register_composite(info, conn, decode)

    @staticmethod
    def _reset(conn: psycopg.Connection[Any]) -> None:
        conn.execute("DISCARD ALL")

    async def query(self, sql: str) -> QueryResult:
        if self._slots.locked():
            raise QueryBusy("too many concurrent queries; retry later")
        async with self._slots:
            return await asyncio.to_thread(self.run, sql)

    def run(self, sql: str) -> QueryResult:
        """Run one read-only statement; raise `QueryError` on anything not allowed."""
        if not sql.strip():
            raise QueryError("the query is empty")
        try:
            with self._pool.connection(timeout=30.0) as conn:
                return self._run_on(conn, sql)
        except psycopg.errors.QueryCanceled:
            raise QueryError(
                f"the query ran longer than {self._time_limit_ms / 1000:g}s; "
                "narrow it (WHERE, LIMIT)"
            ) from None
        except psycopg.Error as exc:
            raise QueryError(f"invalid query: {str(exc).strip()}") from None

    def _run_on(self, conn: psycopg.Connection[Any], sql: str) -> QueryResult:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            conn.execute(
                "SELECT set_config('statement_timeout', %s, true)", (f"{self._time_limit_ms}ms",)
            )
            cursor = conn.cursor()
            rows: list[tuple[object, ...]] = []
            # No parameters: `%` in the SQL is the SQL's own (LIKE 'a%').
            for row in cursor.stream(sql.encode()):
                if len(rows) == self._row_limit:
                    raise QueryError(
                        f"the query returns more than {self._row_limit} rows; add a LIMIT"
                    )
                rows.append(tuple(_plain(v) for v in row))
            if cursor.description is None:
                # psycopg's stream leaves no description when there were no rows; the
                # columns still matter (the query engine learns a view's with LIMIT 0).
                cursor.execute(sql.encode())
            names = tuple(column.name for column in cursor.description or ())
            return QueryResult(names, [introspection.typed_row(names, row) for row in rows])
        finally:
            if not conn.closed:
                conn.execute("ROLLBACK")
