"""Read-only SQL over the introspection views: the SQLite store's `query` capability
(what the admin API's `POST /query` answers, reference surfaces §2.4).

Each query runs on its own short-lived SQLite connection opened read-only (`mode=ro`),
with `PRAGMA query_only`, an authorizer that only lets a statement read the views of
`perdure.store.sqlite.views` (never perdure's tables directly, never ATTACH, PRAGMA or a
write), a length limit, a time limit (progress handler) and a row limit. The store's
writer is never involved, so no query can change data or slow commits beyond sharing the
disk. Rows come back as tuples with their column names; rendering them (JSON, with nulls
omitted and blobs as hex) is the admin API's job.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from perdure.store import introspection
from perdure.store.api import QueryBusy, QueryError, QueryResult
from perdure.store.entry_json import entry_json, entry_lite_json
from perdure.store.sqlite.views import VIEW_NAMES

ROW_LIMIT = 10_000
TIME_LIMIT_S = 10.0
VALUE_LENGTH_LIMIT = 64 * 1024 * 1024
MAX_CONCURRENT = 4
_PROGRESS_EVERY = 10_000  # VM instructions between deadline checks

_READABLE = frozenset(VIEW_NAMES) | {"state"}
# Functions a query may call: SQLite's scalar and aggregate built-ins plus ours. Anything
# else (load_extension, fts/rtree helpers, …) is refused by the authorizer.
_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})
_WORD = re.compile(
    r"""('(?:[^']|'')*')|("(?:[^"]|"")*")|(`[^`]*`)|(\[[^\]]*\])|(--[^\n]*)"""
    r"""|(/\*.*?\*/)|\b(index)\b""",
    re.IGNORECASE | re.DOTALL,
)


# ---- SQL functions the views call (the decoders every store shares) -----------------------

_FUNCTIONS: tuple[tuple[str, int, Callable[..., str | bytes | int | None]], ...] = (
    ("perdure_output_result", 1, introspection.output_result),
    ("perdure_output_failure", 1, introspection.output_failure),
    ("perdure_output_value", 1, introspection.output_value),
    ("perdure_entry_type", 1, introspection.entry_type),
    ("perdure_entry_name", 2, introspection.entry_name),
    ("perdure_entry_json", 2, entry_json),  # as migration 0003's view calls it
    ("perdure_entry_json", 7, entry_json),
    ("perdure_entry_lite_json", 5, entry_lite_json),
    ("perdure_callee_id", 2, introspection.callee_id),
    ("perdure_utf8", 1, introspection.utf8),
    ("perdure_failure_text", 3, introspection.failure_text),
    ("perdure_command_type", 1, introspection.command_type),
    ("perdure_iso_duration", 1, introspection.iso_duration),
    ("perdure_id_list", 1, introspection.id_list),
    ("perdure_waiting_future", 3, introspection.waiting_future),
    ("perdure_partition_key", 1, introspection.partition_key),
)


# ---- the read-only connection ------------------------------------------------------------


def _authorizer(
    action: int, arg1: str | None, arg2: str | None, db: str | None, view: str | None
) -> int:
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_READ:
        # A view of ours, the tables under one, or a CTE of the query itself (no schema).
        if view in _READABLE or not db:
            return sqlite3.SQLITE_OK
        if (db == "main" and arg1 in VIEW_NAMES) or (db == "temp" and arg1 == "state"):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in _DENIED_FUNCTIONS else 0
    return sqlite3.SQLITE_DENY


def _quote_index(sql: str) -> str:
    """`index` is a column of `sys_journal` (restate's name) but a keyword in SQLite."""

    def replace(match: re.Match[str]) -> str:
        return '"index"' if match.group(7) else match.group(0)

    return _WORD.sub(replace, sql)


def _open(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        f"file:{db_path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA busy_timeout=5000")
    for name, arity, fn in _FUNCTIONS:
        conn.create_function(name, arity, fn, deterministic=True)
    # restate's `state` table is the `sys_state` view here (perdure's own table is `state`);
    # a TEMP view shadows the main schema's name on this connection only.
    conn.execute("CREATE TEMP VIEW state AS SELECT * FROM main.sys_state")
    conn.execute("PRAGMA query_only=1")
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, VALUE_LENGTH_LIMIT)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.set_authorizer(_authorizer)
    return conn


def run_query(
    db_path: Path, sql: str, *, row_limit: int = ROW_LIMIT, time_limit_s: float = TIME_LIMIT_S
) -> QueryResult:
    """Run one read-only statement; raise `QueryError` on anything not allowed."""
    if not sql.strip():
        raise QueryError("the query is empty")
    conn = _open(db_path)
    deadline = time.monotonic() + time_limit_s
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_EVERY)
    try:
        try:
            cursor = conn.execute(_quote_index(sql))
            names = [d[0] for d in cursor.description or ()]
            fetched = cursor.fetchmany(row_limit + 1)
        except sqlite3.Warning as exc:  # "You can only execute one statement at a time."
            raise QueryError(f"invalid query: {exc}") from None
        except sqlite3.OperationalError as exc:
            if time.monotonic() > deadline:
                raise QueryError(
                    f"the query ran longer than {time_limit_s:g}s; narrow it (WHERE, LIMIT)"
                ) from None
            raise QueryError(f"invalid query: {exc}") from None
        except (sqlite3.Error, OverflowError, ValueError) as exc:
            raise QueryError(f"invalid query: {exc}") from None
        if len(fetched) > row_limit:
            raise QueryError(f"the query returns more than {row_limit} rows; add a LIMIT")
        return QueryResult(tuple(names), [introspection.typed_row(names, row) for row in fetched])
    finally:
        conn.close()


class QueryRunner:
    """Runs queries off the event loop, a few at a time; more are refused (`QueryBusy`)."""

    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)

    async def query(self, sql: str) -> QueryResult:
        if self._slots.locked():
            raise QueryBusy("too many concurrent queries; retry later")
        async with self._slots:
            return await asyncio.to_thread(run_query, self._db_path, sql)
