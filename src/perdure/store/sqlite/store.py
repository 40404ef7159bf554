"""The SQLite store: one file in WAL mode, one writer thread, group commit.

Durability: `synchronous=FULL` (the default) fsyncs the WAL at every commit, so a commit
that returned survives power loss. `NORMAL` survives a process crash but may lose the
last commits on power loss; it is faster and is offered as an explicit choice.

Group commit: the writer thread takes every job that is queued, runs them in one
`BEGIN IMMEDIATE` transaction (each in its own savepoint, so one failing job rolls back
alone) and commits once; only then are the jobs' futures resolved (one event-loop wake-up
per transaction). The writer keeps the invocation rows it read or wrote in a write-through
cache (`tables.RowCache`) that follows the savepoints and the commit, so a row read by the
next command costs no query.

Reads run on a separate reader thread with its own connection; WAL gives them a
consistent snapshot of committed data without blocking the writer. Introspection queries
(`query`) run on short-lived read-only connections of their own (`query.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from perdure.store.api import (
    JobFailed,
    QueryResult,
    ReadTxn,
    Store,
    StoreError,
    StoreLockedError,
    StoreWriteError,
    WriteTxn,
)
from perdure.store.migrations import migrations
from perdure.store.rowcache import RowCache
from perdure.store.sqlite.query import QueryRunner
from perdure.store.sqlite.tables import SqliteTxn
from perdure.store.sqlite.views import install_views

logger = logging.getLogger(__name__)

T = TypeVar("T")
Synchronous = Literal["FULL", "NORMAL"]
DB_FILE = "perdure.sqlite3"
LOCK_FILE = "perdure.lock"
_MAX_GROUP = 256


@dataclass(slots=True)
class _Job:
    """One write or read job; `many`: several functions, each in its own savepoint, whose
    results (or `JobFailed`) come back together as a list."""

    fns: Sequence[Callable[[SqliteTxn], Any]]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    many: bool = False


_STOP = object()
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


def _connect(path: Path, synchronous: Synchronous) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT/SAVEPOINT ourselves.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    # A generous busy timeout rides out checkpoints instead of failing with "locked".
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


CommitHook = Callable[[], None]


class _Worker(threading.Thread):
    """Owns one connection; runs jobs from a queue, writer or reader."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        writer: bool,
        name: str,
        before_commit: CommitHook | None = None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._conn = conn
        self._writer = writer
        self._before_commit = before_commit
        self.jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self.rows = RowCache() if writer else None
        self.schema_version = 0

    def run(self) -> None:
        try:
            while True:
                first = self.jobs.get()
                if first is _STOP:
                    return
                batch: list[_Job] = [first]  # type: ignore[list-item]
                stop = False
                while self._writer and len(batch) < _MAX_GROUP:
                    try:
                        nxt = self.jobs.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop = True
                        break
                    batch.append(nxt)  # type: ignore[arg-type]
                if self._writer:
                    self._run_write_batch(batch)
                else:
                    for job in batch:
                        self._run_read(job)
                if stop:
                    return
        finally:
            self._conn.close()

    def _run_read(self, job: _Job) -> None:
        try:
            self._conn.execute("BEGIN")
            try:
                result = job.fns[0](SqliteTxn(self._conn))
            finally:
                self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _resolve_all([(job, None, StoreError(f"the store cannot read: {exc}"))])
        except BaseException as exc:
            _resolve_all([(job, None, exc)])
        else:
            _resolve_all([(job, result, None)])

    def _in_savepoint(self, fn: Callable[[SqliteTxn], Any], txn: SqliteTxn) -> Any:
        """Run `fn` in its own savepoint; a `JobFailed` if it raised (and was undone)."""
        assert self.rows is not None
        self._conn.execute("SAVEPOINT job")
        try:
            result = fn(txn)
        except sqlite3.OperationalError:
            # Not the job's fault (a full or read-only disk, an I/O error): SQLite may
            # already have rolled the whole transaction back, so the batch fails as one.
            self.rows.job_failed()
            raise
        except Exception as exc:
            self._conn.execute("ROLLBACK TO job")
            self._conn.execute("RELEASE job")
            self.rows.job_failed()
            return JobFailed(exc)
        self._conn.execute("RELEASE job")
        self.rows.job_succeeded()
        return result

    def _run_write_batch(self, batch: list[_Job]) -> None:
        assert self.rows is not None
        resolutions: list[Resolution] = []
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            txn = SqliteTxn(self._conn, self.rows)
            for job in batch:
                results = [self._in_savepoint(fn, txn) for fn in job.fns]
                if job.many:
                    resolutions.append((job, results, None))
                elif isinstance(results[0], JobFailed):
                    resolutions.append((job, None, results[0].error))
                else:
                    resolutions.append((job, results[0], None))
            if self._before_commit is not None:
                self._before_commit()
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            logger.error("store write transaction failed: %s", exc)
            if self._conn.in_transaction:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error as undo:  # e.g. SQLite already rolled it back itself
                    logger.error("rolling the failed transaction back failed: %s", undo)
            self.rows.rolled_back()
            error = StoreWriteError(f"the store cannot write: {exc}")
            _resolve_all([(job, None, error) for job in batch])
            return
        if self.rows.committed():
            self.schema_version += 1  # read by the loop thread: one int store, GIL-atomic
        # Only now, after COMMIT returned, may anyone learn of the results.
        _resolve_all(resolutions)


class SqliteStore(Store):
    """The store in `data_dir/perdure.sqlite3`. Use `SqliteStore.open`."""

    def __init__(self, writer: _Worker, reader: _Worker, lock_fd: int, path: Path) -> None:
        self._writer = writer
        self._reader = reader
        self._lock_fd = lock_fd
        self._queries = QueryRunner(path)
        self._closed = False

    @classmethod
    def open(
        cls,
        data_dir: Path,
        synchronous: Synchronous = "FULL",
        *,
        before_commit: CommitHook | None = None,
    ) -> SqliteStore:
        """Open (creating and migrating if needed) the store in `data_dir`.

        Takes an exclusive file lock: a second server on the same directory would be a
        second writer, so it is refused with `StoreLockedError`. `before_commit` runs on
        the writer thread right before each COMMIT (tests use it to hold commits back).
        """
        data_dir.mkdir(parents=True, exist_ok=True)
        lock_fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise StoreLockedError(
                f"{data_dir} is used by another perdure server; stop it or use another --data-dir"
            ) from None
        path = data_dir / DB_FILE
        write_conn = _connect(path, synchronous)
        migrate(write_conn)
        read_conn = _connect(path, synchronous)
        writer = _Worker(
            write_conn, writer=True, name="perdure-store-writer", before_commit=before_commit
        )
        reader = _Worker(read_conn, writer=False, name="perdure-store-reader")
        writer.start()
        reader.start()
        return cls(writer, reader, lock_fd, path)

    def write_nowait(self, fn: Callable[[WriteTxn], T]) -> asyncio.Future[T]:
        return self._submit(self._writer, (fn,), many=False)

    def write_many_nowait(
        self, fns: Sequence[Callable[[WriteTxn], T]]
    ) -> asyncio.Future[list[T | JobFailed]]:
        return self._submit(self._writer, fns, many=True)

    async def read(self, fn: Callable[[ReadTxn], T]) -> T:
        result: T = await self._submit(self._reader, (fn,), many=False)
        return result

    def _submit(
        self, worker: _Worker, fns: Sequence[Callable[[SqliteTxn], Any]], *, many: bool
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._closed:
            future.set_exception(StoreError("the store is closed"))
            return future
        worker.jobs.put(_Job(fns, future, loop, many))
        return future

    def schema_version(self) -> int:
        return self._writer.schema_version

    async def query(self, sql: str) -> QueryResult:
        if self._closed:
            raise StoreError("the store is closed")
        return await self._queries.query(sql)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for worker in (self._writer, self._reader):
            worker.jobs.put(_STOP)
        await asyncio.to_thread(self._writer.join)
        await asyncio.to_thread(self._reader.join)
        os.close(self._lock_fd)


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations, each in one transaction with its record; then install
    the current introspection views."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM migrations")}
    applied: list[str] = []
    for migration in migrations("sqlite"):
        if migration.name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in migration.statements():
                conn.execute(statement)
            conn.execute(
                "INSERT INTO migrations (name, applied_at) VALUES (?, datetime('now'))",
                (migration.name,),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        logger.info("applied migration %s", migration.name)
        applied.append(migration.name)
    conn.execute("BEGIN IMMEDIATE")
    try:
        install_views(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied
