"""`POST /query` in restate's SQL: Apache DataFusion (restate's own query engine) over the
rows of any store's introspection views.

A query runs in three steps:

1. **plan** it with DataFusion over empty tables of restate's catalog (`catalog.py`), in a
   session set up as restate-server sets up its own (PostgreSQL dialect, information_schema,
   catalog `restate.public`, no DDL or DML), and read off the plan what each stored table
   must give (`pushdown.py`: columns, identity predicates, a bare LIMIT);
2. **fetch** those rows with the store's own read-only capability, `Store.query`, as plain
   `SELECT columns FROM view WHERE column IN (…) LIMIT n` that every store answers, paged;
3. **run** the query in a fresh session holding those rows (`columns.py` gives them
   restate's Arrow types), streaming batches so a time and a row limit stop it.

So the SQL restate's CLI and UI send (`FIRST_VALUE(x ORDER BY y)`, `==`, `RIGHT JOIN`,
`FILTER (WHERE …)`, `date_bin`, `information_schema.columns`, `CAST(… AS STRING)`, …)
means what it means on restate-server, counts are Int64, timestamps are timestamps,
whichever store holds the rows. It is read-only by construction: the session holds
in-memory copies of rows the store's read-only capability returned, and statements that
would create, write or copy anything are refused by the planner.

Measured with bench/query_engine.py (24 queries the restate CLI and UI send, a SQLite
store of 1000 invocations and 4000 journal entries, this 2-core machine while a test run
shared it): DataFusion ran 24 of 24, 29-276 ms each (median of 5; most of it is setting up
the two sessions); translating each query to SQLite's dialect with sqlglot and letting the
store run it ran 11 of 24: `FIRST_VALUE(x ORDER BY y)`, `first_value` as an aggregate,
`information_schema`, `date_bin`, `(SELECT … inv …) WHERE inv.x` have no SQLite
translation, and every store would need its own translation and views of its own.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable

import pyarrow as pa
from datafusion import RuntimeEnvBuilder, SessionConfig, SessionContext, SQLOptions

from perdure.server.query.catalog import DEFAULTS, DERIVED, TABLES, Table
from perdure.server.query.columns import column, nulls
from perdure.server.query.json_functions import json_udfs, rewrite_json_operators
from perdure.server.query.pushdown import Read, plan_reads
from perdure.store.api import QueryBusy, QueryError, Store

ROW_LIMIT = 100_000  # rows a query may return
READ_LIMIT = 200_000  # rows a query may read from one table
PAGE = 5_000  # rows per store query (below every store's own row limit)
TIME_LIMIT_S = 30.0
MEMORY_LIMIT = 512 << 20
MAX_CONCURRENT = 4

_STORED = frozenset(t.name for t in TABLES.values() if t.view is not None)
_OPTIONS = SQLOptions().with_allow_ddl(False).with_allow_dml(False)


def _session(data: dict[str, pa.RecordBatch]) -> SessionContext:
    config = (
        SessionConfig()
        .with_information_schema(True)
        .with_default_catalog_and_schema("restate", "public")
        .with_target_partitions(1)
        .set("datafusion.sql_parser.dialect", "PostgreSQL")
        # An endless recursive CTE (`… UNION ALL SELECT n+1 FROM r`) under an aggregate
        # yields no batch, so the deadline check between batches never runs and the query
        # spins a core forever (found by the admin fuzzer). No tool of Restate's needs them.
        .set("datafusion.execution.enable_recursive_ctes", "false")
    )
    ctx = SessionContext(config, RuntimeEnvBuilder().with_greedy_memory_pool(MEMORY_LIMIT))
    for udf in json_udfs():
        ctx.register_udf(udf)
    for table in TABLES.values():
        if table.name in DERIVED:
            continue
        batch = data.get(table.name)
        if batch is None:
            batch = pa.RecordBatch.from_pylist([], schema=table.schema)
        ctx.register_record_batches(table.name, [[batch]])
    for name, select in DERIVED.items():
        ctx.sql(f"CREATE VIEW {name} AS {select}")
    return ctx


class QueryFailed(QueryError):
    """DataFusion refused or failed the query; `status` is restate-server's for it: 400
    for a text that is no statement and for a statement the session refuses (DDL, DML),
    500 otherwise (restate answers an unknown table, column or function with 500 too)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


_REFUSED = re.compile(
    r'SQL error: ParserError\("Expected: an SQL statement'
    r"|Error during planning: (DDL|DML|Statement) not supported"
)


def _failed(exc: Exception) -> QueryFailed:
    # DataFusion's message without the Python binding's own prefix.
    text = str(exc).strip()
    if text.startswith("DataFusion error: "):
        text = text[len("DataFusion error: ") :]
    return QueryFailed(text or type(exc).__name__, 400 if _REFUSED.match(text) else 500)


def _plan(sql: str) -> dict[str, Read]:
    ctx = _session({})
    try:
        plan = ctx.sql_with_options(sql, _OPTIONS).optimized_logical_plan()
    except Exception as exc:
        raise _failed(exc) from None
    return plan_reads(plan, _STORED)


def _run(sql: str, data: dict[str, pa.RecordBatch], deadline: float) -> pa.Table:
    ctx = _session(data)
    try:
        frame = ctx.sql_with_options(sql, _OPTIONS)
        schema = frame.schema()
        batches: list[pa.RecordBatch] = []
        rows = 0
        for batch in frame.execute_stream():
            arrow = batch.to_pyarrow()
            rows += arrow.num_rows
            if rows > ROW_LIMIT:
                raise QueryError(f"the query returns more than {ROW_LIMIT} rows; add a LIMIT")
            if time.monotonic() > deadline:
                raise QueryError(f"the query ran longer than {TIME_LIMIT_S:g}s; narrow it")
            batches.append(arrow)
    except QueryError:
        raise
    except Exception as exc:
        raise _failed(exc) from None
    return pa.Table.from_batches(batches, schema=schema)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def store_sql(view: str, columns: Iterable[str], read: Read, limit: int, offset: int) -> str:
    """The plain SELECT every store answers for one page of `read`."""
    selected = ", ".join(_quote(c) for c in sorted(columns)) or "1"
    conditions = [
        f"{_quote(c)} IN ({', '.join(_literal(v) for v in sorted(values))})"
        for c, values in sorted(read.predicate.items())
        if values
    ]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT {selected} FROM {view}{where} LIMIT {limit} OFFSET {offset}"


def _batch(
    table: Table, result_columns: tuple[str, ...], rows: list[tuple[object, ...]]
) -> pa.RecordBatch:
    index = {name: i for i, name in enumerate(result_columns)}
    defaults = DEFAULTS.get(table.name, {})
    arrays = []
    for f in table.schema:
        position = index.get(f.name)
        if position is None and f.name in defaults:
            arrays.append(column([defaults[f.name]] * len(rows), f.type))
        elif position is None:
            arrays.append(nulls(len(rows), f.type))
        else:
            arrays.append(column([row[position] for row in rows], f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=_nullable(table.schema))


def _nullable(schema: pa.Schema) -> pa.Schema:
    # A store may lack a NOT NULL column; the declared nullability is restate's, not a check.
    return pa.schema([f.with_nullable(True) for f in schema])


class QueryEngine:
    """Answers restate-dialect SQL over one store; a few queries at a time."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._view_columns: dict[str, frozenset[str]] = {}

    async def query(self, sql: str) -> pa.Table:
        if not sql.strip():
            raise QueryError("the query is empty")
        if self._slots.locked():
            raise QueryBusy("too many concurrent queries; retry later")
        async with self._slots:
            deadline = time.monotonic() + TIME_LIMIT_S
            sql = rewrite_json_operators(sql)
            reads = await asyncio.to_thread(_plan, sql)
            data = {}
            for read in reads.values():
                data[read.table] = await self._fetch(TABLES[read.table], read)
            return await asyncio.to_thread(_run, sql, data, deadline)

    async def _columns(self, view: str) -> frozenset[str]:
        known = self._view_columns.get(view)
        if known is None:
            result = await self._store.query(f"SELECT * FROM {view} LIMIT 0")
            known = self._view_columns[view] = frozenset(result.columns)
        return known

    async def _fetch(self, table: Table, read: Read) -> pa.RecordBatch:
        assert table.view is not None
        available = await self._columns(table.view)
        wanted = set(table.schema.names) if read.whole else read.columns
        columns = wanted & available
        if any(c not in available for c in read.predicate):
            read.predicate = {c: v for c, v in read.predicate.items() if c in available}
        # One row past the limit tells a table too large to read from one that fits.
        limit = READ_LIMIT + 1 if read.fetch is None else read.fetch
        rows: list[tuple[object, ...]] = []
        names: tuple[str, ...] = ()
        while len(rows) < limit:
            page = min(PAGE, limit - len(rows))
            result = await self._store.query(store_sql(table.view, columns, read, page, len(rows)))
            names = result.columns
            rows.extend(result.rows)
            if len(result.rows) < page:
                break
        if read.fetch is None and len(rows) > READ_LIMIT:
            raise QueryError(
                f"the query reads more than {READ_LIMIT} rows of {table.name}; "
                "narrow it (WHERE id = …, service_name = …)"
            )
        return _batch(table, names, rows)
