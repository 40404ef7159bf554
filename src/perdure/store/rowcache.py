"""The writer's write-through row cache, shared by the stores whose writer is the only one
writing its database (SQLite always; PostgreSQL per database today).

Every command reads the rows of the invocations it touches and of their services and
deployments; the writer keeps the ones it read or wrote, layered like its transaction.
"""

from __future__ import annotations

from collections import OrderedDict

from perdure.store.api import DeploymentRow, InvocationRow, LimitRuleRow, ServiceRow

CacheKey = tuple[str, str]  # (table, primary key)
# Rows, and facts every command asks about (all limit rules; whether a schedule holds a
# buffered tick), so that a server with no limits and no schedules never queries for them.
Cached = InvocationRow | ServiceRow | DeploymentRow | tuple[LimitRuleRow, ...] | bool | None
LIMIT_RULES: CacheKey = ("limit_rules", "*")
SCHEDULES_BUFFERING: CacheKey = ("schedules", "buffering")
_SCHEMA_TABLES = frozenset({"services", "deployments"})


class RowCache:
    """The writer's write-through cache of the rows every command reads (invocations,
    services, deployments), kept in step with savepoints and commits: rows written by the
    job that runs (`_job`), by earlier jobs of the open transaction (`_txn`), and as
    committed (`_committed`, least recently used first).

    A job that fails drops its rows, a transaction that rolls back drops all of its own;
    so the cache never holds a row that is not in the database as the writer sees it.
    Only the writer's transactions use it, and every write of these tables goes through them.
    """

    LIMIT = 20_000

    def __init__(self) -> None:
        self._committed: OrderedDict[CacheKey, Cached] = OrderedDict()
        self._txn: dict[CacheKey, Cached] = {}
        self._job: dict[CacheKey, Cached] = {}

    def lookup(self, key: CacheKey) -> tuple[bool, Cached]:
        """(found, row); a found None is a row known not to exist."""
        for layer in (self._job, self._txn):
            if key in layer:
                return True, layer[key]
        if key in self._committed:
            self._committed.move_to_end(key)
            return True, self._committed[key]
        return False, None

    def loaded(self, key: CacheKey, row: Cached) -> None:
        """`row` was read from the database (not changed by the open transaction)."""
        self._remember(key, row)

    def written(self, key: CacheKey, row: Cached) -> None:
        self._job[key] = row

    def job_succeeded(self) -> None:
        self._txn.update(self._job)
        self._job.clear()

    def job_failed(self) -> None:
        self._job.clear()

    def committed(self) -> bool:
        """The open transaction committed; True if it wrote a service or deployment."""
        schema = False
        for key, row in self._txn.items():
            self._remember(key, row)
            schema = schema or key[0] in _SCHEMA_TABLES
        self._txn.clear()
        return schema

    def rolled_back(self) -> None:
        self._txn.clear()
        self._job.clear()

    def _remember(self, key: CacheKey, row: Cached) -> None:
        self._committed[key] = row
        self._committed.move_to_end(key)
        while len(self._committed) > self.LIMIT:
            self._committed.popitem(last=False)
