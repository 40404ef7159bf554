"""The PostgreSQL store: one writer connection on its own thread, group commit.

Driver: psycopg 3, synchronous API, chosen by measurement (bench/postgres_store.py: one
transaction of 30 engine-shaped jobs, 6 statements each on average, savepoint per job,
synchronous_commit=on, PostgreSQL 15 on loopback, this 2-core machine, median of 200
batches; two runs, load from other work on the machine in between):

    psycopg (sync, writer thread)    970 / 1594 µs per job
    psycopg, pipeline mode           932 / 1770
    asyncpg, async jobs on the loop 1408 / 1666
    asyncpg bridged from sync jobs  2296 / 3170

The engine's write jobs are synchronous functions (`Engine.apply(txn, command)`), so the
writer keeps them on a thread, as the SQLite store does. asyncpg's protocol is not faster
here once each statement is awaited, would need every engine function to become `async`,
and bridged from the sync jobs it is twice as slow. Pipeline mode saves little (the jobs
read before they write, so most statements wait anyway) and would report a failed
statement at a later one, so the writer does not use it.

Semantics are the SQLite store's:

* **One writer.** On a single node every partition's commands go through this one
  connection (the processor owns all partitions), and a session-level advisory lock keeps
  a second perdure server off the same database (`StoreLockedError`).
* **Cluster mode** (`node=`): several nodes share the database, each writing only the
  partitions it leases. Their writers hold that advisory lock shared (a single-node server
  and a cluster exclude each other). A job list submitted with a `Lease` is fenced: the
  transaction first locks the lease rows of its batch (`FOR KEY SHARE`, until COMMIT) and
  runs only the jobs whose lease still names this node at that epoch; the others fail
  with `LeaseLost` and write nothing. A takeover locks the row `FOR UPDATE`, so it waits
  for a fenced transaction in flight, and every later one sees the new epoch. A writer
  session idle inside a transaction (a paused process) is ended by PostgreSQL
  (`idle_in_transaction_session_timeout`), releasing its locks. The row cache is
  dropped whenever the node is told that other writers may have changed rows it holds
  (`forget_cached_rows`).
* **Group commit.** The writer takes every queued job, runs them in one transaction, each
  in its own savepoint (a failing job rolls back alone), commits once, and only after
  COMMIT returned resolves the jobs' futures. `synchronous_commit=on`: COMMIT returns once
  the WAL is flushed.
* **Consistent reads** run on a reader connection in REPEATABLE READ READ ONLY
  transactions (one snapshot per `read`).
* **Introspection queries** (`query`) run as a read-only role (`query.py`).

A connection found dead when a batch begins (PostgreSQL restarted while the writer was
idle) is replaced and the batch runs on the new one. A connection lost during a batch
fails that batch (its futures get a `StoreError`: the outcome of a COMMIT that got no
answer is unknown to the caller, as with any database) and the next batch reconnects.
Reads are retried once on a fresh connection. The writer's row cache (`tables.py`) is
dropped whenever either happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from perdure.store.api import (
    JobFailed,
    Lease,
    LeaseLost,
    QueryResult,
    ReadTxn,
    Store,
    StoreConfigError,
    StoreError,
    StoreLockedError,
    WriteTxn,
)
from perdure.store.partitioning import DEFAULT_PARTITIONS
from perdure.store.postgres.cluster_tables import ClusterTxn
from perdure.store.postgres.query import PostgresQueryRunner
from perdure.store.postgres.schema import install_views, migrate
from perdure.store.postgres.tables import PostgresTxn
from perdure.store.rowcache import RowCache

logger = logging.getLogger(__name__)

T = TypeVar("T")
CommitHook = Callable[[], None]
_MAX_GROUP = 256
LOCK_WAIT_S = 5.0
_STOP = object()


@dataclass(slots=True)
class _Job:
    """One write or read job; `many`: several functions, each in its own savepoint, whose
    results (or `JobFailed`) come back together as a list."""

    fns: Sequence[Callable[[PostgresTxn], Any]]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    many: bool = False
    lease: Lease | None = None


Resolution = tuple[_Job, Any, BaseException | None]


def _apply(resolutions: list[Resolution]) -> None:
    for job, result, error in resolutions:
        if job.future.done():
            continue
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)


def _resolve_all(resolutions: list[Resolution]) -> None:
    """Hand results to their event loops: one wake-up per loop, not one per job."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Resolution]] = {}
    for resolution in resolutions:
        by_loop.setdefault(resolution[0].loop, []).append(resolution)
    for loop, items in by_loop.items():
        # A closed loop raises RuntimeError: nobody waits for these any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_apply, items)


def masked(url: str) -> str:
    """The URL without its password, for logs and messages."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<invalid PostgreSQL URL>"
    host, port, db = params.get("host", ""), params.get("port", ""), params.get("dbname", "")
    user = params.get("user", "")
    return f"postgresql://{user}{'@' if user else ''}{host}{':' if port else ''}{port}/{db}"


def _connect(
    conninfo: str, application: str, idle_in_transaction_ms: int = 0
) -> psycopg.Connection[Any]:
    conn = psycopg.connect(
        conninfo, autocommit=True, application_name=application, prepare_threshold=0
    )
    # Explicit, whatever the server's or the role's defaults: COMMIT returns only once the
    # WAL is flushed to disk.
    conn.execute("SET synchronous_commit = on")
    if idle_in_transaction_ms:
        conn.execute(f"SET idle_in_transaction_session_timeout = {int(idle_in_transaction_ms)}")
    return conn


def _writer_lock_key(database: str) -> int:
    """The session advisory-lock key that marks a database's single writer."""
    digest = hashlib.sha256(b"perdure-writer:" + database.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# Locks the lease rows of a batch's fenced jobs until COMMIT; returns those still held.
_FENCE = (
    "SELECT l.partition FROM leases l "
    "JOIN unnest(%s::int[], %s::bigint[]) AS h(partition, epoch) "
    "ON l.partition = h.partition AND l.epoch = h.epoch "
    "WHERE l.node = %s FOR KEY SHARE OF l"
)


class _Writer(threading.Thread):
    """Owns the write connection; runs queued jobs in group-committed transactions.

    The savepoint statements between jobs are sent as one simple-protocol string
    (`RELEASE job; SAVEPOINT job`): one round trip per job boundary.
    """

    def __init__(self, store: PostgresStore, conn: psycopg.Connection[Any]) -> None:
        super().__init__(name="perdure-store-writer", daemon=True)
        self._store = store
        self._conn: psycopg.Connection[Any] | None = conn
        self.jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self.schema_version = 0
        self.rows = RowCache()
        # Set from other threads (cluster mode): drop the row cache before the next batch.
        self.forget_rows = False

    def run(self) -> None:
        try:
            while True:
                first = self.jobs.get()
                if first is _STOP:
                    return
                batch: list[_Job] = [first]  # type: ignore[list-item]
                stop = False
                while len(batch) < _MAX_GROUP:
                    try:
                        nxt = self.jobs.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop = True
                        break
                    batch.append(nxt)  # type: ignore[arg-type]
                self._run_batch(batch)
                if stop:
                    return
        finally:
            if self._conn is not None:
                self._conn.close()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            # Nothing cached survives a new connection: another writer may have been there.
            self.rows = RowCache()
            self._conn = self._store.connect_writer()
        return self._conn

    def _begin(self, fenced: bool) -> psycopg.Connection[Any]:
        # A fenced batch locks its leases before the first savepoint (`_fence`).
        begin = "BEGIN" if fenced else "BEGIN; SAVEPOINT job"
        conn = self._connection()
        try:
            conn.execute(begin, prepare=False)
        except psycopg.OperationalError:
            if not conn.broken:
                raise
            # Lost while idle (the server restarted): nothing of this batch ran yet, so a
            # fresh connection may run all of it.
            conn = self._connection()
            conn.execute(begin, prepare=False)
        return conn

    def _fence(self, conn: psycopg.Connection[Any], batch: list[_Job]) -> set[int]:
        """Lock the batch's lease rows (held until COMMIT, outside every savepoint, so a
        job rolled back keeps them locked); the partitions still leased at their epoch."""
        leases = {(j.lease.partition, j.lease.epoch) for j in batch if j.lease is not None}
        node = self._store.node
        held = conn.execute(
            _FENCE, ([p for p, _ in leases], [e for _, e in leases], node)
        ).fetchall()
        conn.execute("SAVEPOINT job", prepare=False)
        return {int(row[0]) for row in held}

    def _in_savepoint(
        self, conn: psycopg.Connection[Any], fn: Callable[[PostgresTxn], Any], txn: PostgresTxn
    ) -> Any:
        """Run `fn` in the open savepoint; a `JobFailed` if it raised (and was undone)."""
        try:
            result = fn(txn)
        except Exception as exc:
            if conn.broken:
                raise StoreError(f"the connection to PostgreSQL was lost: {exc}") from exc
            conn.execute("ROLLBACK TO job")
            self.rows.job_failed()
            txn.job_done(False)
            return JobFailed(exc)
        self.rows.job_succeeded()
        txn.job_done(True)
        return result

    def _run_batch(self, batch: list[_Job]) -> None:
        resolutions: list[Resolution] = []
        if self.forget_rows:
            self.forget_rows = False
            self.rows = RowCache()
        fenced = any(job.lease is not None for job in batch)
        try:
            conn = self._begin(fenced)
            held = self._fence(conn, batch) if fenced else set()
            txn = self._store.txn(conn, self.rows)
            first = True
            for job in batch:
                if job.lease is not None and job.lease.partition not in held:
                    lost = LeaseLost(
                        f"partition {job.lease.partition} is no longer leased to "
                        f"{job.lease.node} at epoch {job.lease.epoch}"
                    )
                    resolutions.append((job, None, lost))
                    continue
                results = []
                for fn in job.fns:
                    if not first:
                        conn.execute("RELEASE job; SAVEPOINT job", prepare=False)
                    first = False
                    results.append(self._in_savepoint(conn, fn, txn))
                if job.many:
                    resolutions.append((job, results, None))
                elif isinstance(results[0], JobFailed):
                    resolutions.append((job, None, results[0].error))
                else:
                    resolutions.append((job, results[0], None))
            conn.execute("RELEASE job")
            txn.before_commit()
            if self._store.before_commit is not None:
                self._store.before_commit()
            conn.execute("COMMIT")
        except Exception as exc:  # the database, or the before-commit hook: fail the batch
            logger.error("store write transaction failed: %s", exc)
            self._abandon()
            # Whether a COMMIT that got no answer happened is unknown: forget everything.
            self.rows = RowCache()
            error = exc if isinstance(exc, StoreError) else StoreError(f"write failed: {exc}")
            _resolve_all([(job, None, error) for job in batch])
            return
        if self.rows.committed():
            # After COMMIT: a reader that sees the new number reads the new rows.
            self.schema_version += 1  # read by the loop thread: one int store, GIL-atomic
        # Only now, after COMMIT returned, may anyone learn of the results.
        _resolve_all(resolutions)

    def _abandon(self) -> None:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            return
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            conn.close()


class _Reader(threading.Thread):
    """Owns a read connection; runs each read in its own REPEATABLE READ snapshot."""

    def __init__(self, store: PostgresStore) -> None:
        super().__init__(name="perdure-store-reader", daemon=True)
        self._store = store
        self._conn: psycopg.Connection[Any] | None = None
        self.jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()

    def run(self) -> None:
        try:
            while (job := self.jobs.get()) is not _STOP:
                self._run_read(job)  # type: ignore[arg-type]
        finally:
            if self._conn is not None:
                self._conn.close()

    def _read_once(self, job: _Job) -> Any:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = _connect(self._store.conninfo, "perdure-reader")
        conn = self._conn
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            return job.fns[0](self._store.txn(conn, None))
        finally:
            if not conn.broken:
                conn.execute("ROLLBACK")

    def _run_read(self, job: _Job) -> None:
        try:
            try:
                result = self._read_once(job)
            except psycopg.OperationalError:
                if self._conn is None or not self._conn.broken:
                    raise
                # The server went away (restart): one more try on a fresh connection.
                result = self._read_once(job)
        except psycopg.Error as exc:
            _resolve_all([(job, None, StoreError(f"read failed: {exc}"))])
        except BaseException as exc:
            _resolve_all([(job, None, exc)])
        else:
            _resolve_all([(job, result, None)])


class PostgresStore(Store):
    """The store in one PostgreSQL database. Use `PostgresStore.open`."""

    def __init__(
        self,
        conninfo: str,
        partitions: int,
        before_commit: CommitHook | None,
        node: str | None = None,
        idle_in_transaction_ms: int = 0,
    ) -> None:
        self.conninfo = conninfo
        self.lock_wait_s = LOCK_WAIT_S
        self.partitions = partitions
        self.before_commit = before_commit
        self.node = node
        self.idle_in_transaction_ms = idle_in_transaction_ms
        self._remote_schema_changes = 0
        self._lock_key = _writer_lock_key(str(conninfo_to_dict(conninfo).get("dbname", "")))
        self._writer: _Writer | None = None
        self._reader: _Reader | None = None
        self._queries: PostgresQueryRunner | None = None
        self._closed = False

    @classmethod
    def open(
        cls,
        url: str,
        partitions: int = DEFAULT_PARTITIONS,
        *,
        before_commit: CommitHook | None = None,
        lock_wait_s: float = LOCK_WAIT_S,
        node: str | None = None,
        idle_in_transaction_ms: int = 0,
    ) -> PostgresStore:
        """Open (migrating if needed) the store in the database `url` names
        (`postgresql://USER[:PASS]@HOST:PORT/DB`).

        Refuses, with `StoreLockedError`, a database another perdure server writes to,
        and, with `StoreConfigError`, one whose schema has another partition count.
        `before_commit` runs on the writer thread right before each COMMIT (tests use it
        to hold commits back). `lock_wait_s`: how long to wait for the writer lock of a
        server that just died (its session ends a moment after the process). `node`:
        cluster mode, as that node (see the module docstring); `idle_in_transaction_ms`:
        how long PostgreSQL lets the writer's session sit idle inside a transaction.
        """
        if partitions < 1:
            raise StoreConfigError(f"the partition count must be at least 1, not {partitions}")
        try:
            conninfo = make_conninfo(url)
        except psycopg.ProgrammingError as exc:
            raise StoreConfigError(f"invalid PostgreSQL URL: {exc}") from None
        store = cls(conninfo, partitions, before_commit, node, idle_in_transaction_ms)
        store.lock_wait_s = lock_wait_s
        conn = store.connect_writer()
        try:
            migrate(conn, partitions)
            role = install_views(conn)
            queries = PostgresQueryRunner(
                make_conninfo(conninfo, user=role.name, password=role.password)
            )
            try:
                queries.open()
            except Exception as exc:
                queries.close()
                raise StoreConfigError(
                    f"the read-only query role {role.name!r} cannot connect to "
                    f"{masked(url)} ({exc}); allow it in pg_hba.conf like perdure's own user"
                ) from None
        except BaseException:
            conn.close()
            raise
        store._queries = queries
        store._writer = _Writer(store, conn)
        store._reader = _Reader(store)
        store._writer.start()
        store._reader.start()
        return store

    def connect_writer(self) -> psycopg.Connection[Any]:
        """A new write connection holding the database's writer lock (shared by the nodes
        of a cluster)."""
        application = "perdure-writer" if self.node is None else f"perdure-writer {self.node}"
        try:
            conn = _connect(self.conninfo, application, self.idle_in_transaction_ms)
        except psycopg.OperationalError as exc:
            raise StoreConfigError(
                f"cannot connect to PostgreSQL at {masked(self.conninfo)}: {str(exc).strip()}"
            ) from None
        # A writer killed a moment ago still holds the lock until its backend notices the
        # closed socket: wait a little for it before refusing.
        deadline = time.monotonic() + self.lock_wait_s
        while not self._try_writer_lock(conn):
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            conn.close()
            if self.node is not None:
                raise StoreLockedError(
                    f"{masked(self.conninfo)} is used by a single-node perdure server; stop "
                    "it before starting cluster nodes on this database"
                )
            raise StoreLockedError(
                f"{masked(self.conninfo)} is used by another perdure server; stop it or use "
                "another database (several nodes on one database: start each with "
                "--node-name)"
            )
        return conn

    def _try_writer_lock(self, conn: psycopg.Connection[Any]) -> bool:
        function = "pg_try_advisory_lock" if self.node is None else "pg_try_advisory_lock_shared"
        found = conn.execute(f"SELECT {function}(%s)", (self._lock_key,)).fetchone()
        return bool(found and found[0])

    def txn(self, conn: psycopg.Connection[Any], rows: RowCache | None) -> PostgresTxn:
        """The transaction object of this store's mode over `conn`."""
        return PostgresTxn(conn, rows) if self.node is None else ClusterTxn(conn, rows)

    def forget_cached_rows(self) -> None:
        """Other writers may have changed rows this writer cached (a partition changed
        hands, a service was registered elsewhere): drop them before the next batch.
        Safe from any thread."""
        if self._writer is not None:
            self._writer.forget_rows = True

    def schema_changed_elsewhere(self) -> None:
        """Another node committed a service or deployment change (cluster mode): readers
        comparing `schema_version` must read again. Call from the event loop's thread."""
        self._remote_schema_changes += 1
        self.forget_cached_rows()

    def write_nowait(
        self, fn: Callable[[WriteTxn], T], lease: Lease | None = None
    ) -> asyncio.Future[T]:
        return self._submit(self._writer, (fn,), many=False, lease=lease)

    def write_many_nowait(
        self, fns: Sequence[Callable[[WriteTxn], T]], lease: Lease | None = None
    ) -> asyncio.Future[list[T | JobFailed]]:
        """As `Store.write_many_nowait`; with `lease` (cluster mode), fenced by it: the
        future fails with `LeaseLost` (nothing of it committed) if the partition is no
        longer leased to this node at that epoch."""
        return self._submit(self._writer, fns, many=True, lease=lease)

    async def read(self, fn: Callable[[ReadTxn], T]) -> T:
        result: T = await self._submit(self._reader, (fn,), many=False)
        return result

    def _submit(
        self,
        worker: _Writer | _Reader | None,
        fns: Sequence[Callable[[PostgresTxn], Any]],
        *,
        many: bool,
        lease: Lease | None = None,
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._closed or worker is None:
            future.set_exception(StoreError("the store is closed"))
            return future
        if lease is not None and lease.node != self.node:
            future.set_exception(LeaseLost(f"{lease} is not a lease of this store's node"))
            return future
        worker.jobs.put(_Job(fns, future, loop, many, lease))
        return future

    def schema_version(self) -> int:
        # Two counters, each moved by one thread only: their sum changes with either.
        written = 0 if self._writer is None else self._writer.schema_version
        return written + self._remote_schema_changes

    async def query(self, sql: str) -> QueryResult:
        if self._closed or self._queries is None:
            raise StoreError("the store is closed")
        return await self._queries.query(sql)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for worker in (self._writer, self._reader):
            if worker is not None:
                worker.jobs.put(_STOP)
                await asyncio.to_thread(worker.join)
        if self._queries is not None:
            await asyncio.to_thread(self._queries.close)
