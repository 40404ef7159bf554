"""The store as the harness sees it: every journal entry that commits, work in flight, and
the crash of crash exploration.

`TrackedStore` wraps the real store of one server generation. Each write job runs with a
transaction that records the journal entries it appends (on the writer thread, where jobs
run one after the other, so the count is exact). With `crash_after` set, the job whose
entries reach that count is the last one that commits: every later job raises instead
(rolled back), and no future of that transaction or later ones resolves, so nothing of
them is acknowledged or acted on — the server died right after that commit, as after
`kill -9`. `on_crash` then tells the harness to replace the generation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from perdure.protocol.messages import MessageType
from perdure.store.api import JobFailed, JournalEntryRow, QueryResult, ReadTxn, Store, WriteTxn

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CommittedEntry:
    """One journal entry as it was appended, in global commit order."""

    invocation_id: str
    index: int
    type: int
    payload: bytes
    completion_id: int | None

    @property
    def message_type(self) -> MessageType:
        return MessageType(self.type)


class Crashed(Exception):
    """A job queued after the crash point: the server is gone, nothing more commits."""


class EntryLog:
    """Entries of every generation of one harness, in commit order (shared by them)."""

    def __init__(self) -> None:
        self.entries: list[CommittedEntry] = []
        self._lock = threading.Lock()

    def extend(self, entries: Sequence[CommittedEntry]) -> int:
        with self._lock:
            self.entries.extend(entries)
            return len(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def run_completed(self, invocation_id: str, completion_id: int) -> bool:
        """Whether a RunCompletion for that run was appended."""
        return any(
            e.invocation_id == invocation_id
            and e.completion_id == completion_id
            and e.type == MessageType.RUN_COMPLETION
            for e in list(self.entries)
        )


class _RecordingTxn:
    """A write transaction that also remembers the entries appended through it."""

    def __init__(self, txn: WriteTxn) -> None:
        self._txn = txn
        self.appended: list[CommittedEntry] = []

    def append_entry(self, row: JournalEntryRow) -> None:
        self._txn.append_entry(row)
        self.appended.append(
            CommittedEntry(row.invocation_id, row.index, row.type, row.payload, row.completion_id)
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._txn, name)


class TrackedStore(Store):
    def __init__(
        self,
        inner: Store,
        log: EntryLog,
        *,
        crash_after: int | None = None,
        on_crash: Callable[[], None] | None = None,
    ) -> None:
        self.inner = inner
        self._log = log
        self._crash_after = crash_after
        self._on_crash = on_crash
        self._fenced = False  # set on the writer thread: later jobs must not commit
        self._crash_reported = False
        self.in_flight = 0

    @property
    def crashed(self) -> bool:
        return self._fenced

    def fence(self) -> None:
        """Crash now (`Harness.restart`): nothing queued from here on commits."""
        self._fenced = True
        self._crash_reported = True  # the caller recovers; no `on_crash`

    def _wrap(self, fn: Callable[[WriteTxn], T]) -> Callable[[WriteTxn], T]:
        def job(txn: WriteTxn) -> T:
            if self._fenced:
                raise Crashed("the server crashed (crash exploration)")
            recording = _RecordingTxn(txn)
            result = fn(cast(WriteTxn, recording))
            if recording.appended:
                count = self._log.extend(recording.appended)
                if self._crash_after is not None and count >= self._crash_after:
                    self._fenced = True
            return result

        return job

    def _track(self, inner: asyncio.Future[T]) -> asyncio.Future[T]:
        """A future resolved like `inner`, unless the server crashed by then (never)."""
        self.in_flight += 1
        outer: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def done(future: asyncio.Future[T]) -> None:
            self.in_flight -= 1
            if self._fenced:
                if not self._crash_reported and self._on_crash is not None:
                    self._crash_reported = True
                    self._on_crash()
                return  # the server is dead: nobody learns of this commit
            if future.cancelled():
                outer.cancel()
            elif (error := future.exception()) is not None:
                outer.set_exception(error)
            else:
                outer.set_result(future.result())

        inner.add_done_callback(done)
        return outer

    def write_nowait(self, fn: Callable[[WriteTxn], T]) -> asyncio.Future[T]:
        return self._track(self.inner.write_nowait(self._wrap(fn)))

    def write_many_nowait(
        self, fns: Sequence[Callable[[WriteTxn], T]]
    ) -> asyncio.Future[list[T | JobFailed]]:
        return self._track(self.inner.write_many_nowait([self._wrap(fn) for fn in fns]))

    async def read(self, fn: Callable[[ReadTxn], T]) -> T:
        self.in_flight += 1
        try:
            return await self.inner.read(fn)
        finally:
            self.in_flight -= 1

    def schema_version(self) -> int:
        return self.inner.schema_version()

    async def query(self, sql: str) -> QueryResult:
        self.in_flight += 1
        try:
            return await self.inner.query(sql)
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        await self.inner.close()
