"""Which PostgreSQL driver for the store's writer: psycopg 3 (sync, on the writer thread) or
asyncpg. Measures one group-commit batch of engine-shaped write jobs both ways.

    pip install asyncpg   # only this benchmark needs it
    python bench/postgres_store.py [--batches 200] [--jobs 30]

It starts a throwaway PostgreSQL (tests/support/postgres.py: initdb + server on a free
loopback port, stopped at the end), creates perdure's schema with `PostgresStore.open`,
then builds batches of jobs with the store's own `PostgresTxn` (so the SQL is exactly the
store's): per invocation the three commands the engine runs most, Invoke (service
lookup, dedupe read, lock read + take, invocation row, Input entry, status to running),
SdkFrames for one `ctx.run` (row read, Run command + RunCompletion entries, row update,
notification check) and End (row read, Output entry, completed row, lock release, inbox
pop, waiters). The statements of each job are captured once, then replayed, timed, in
one transaction per batch with one savepoint per job and `synchronous_commit=on`:

* `psycopg`: sync connection on a thread, as the store runs today (one round trip per
  statement, savepoint boundaries sent as one simple-protocol string);
* `psycopg-pipeline`: the same, in pipeline mode with one sync per job;
* `psycopg+rowcache`: as `psycopg`, without the reads the writer's row cache answers
  (what the store sends);
* `asyncpg`: async jobs awaiting each statement on the event loop (what adopting asyncpg
  would need: every engine function `async`);
* `asyncpg-bridged`: the engine's sync jobs on a thread, each statement handed to
  asyncpg on the loop (`run_coroutine_threadsafe`), i.e. asyncpg without rewriting the
  engine.

Prints per variant the median and p95 time of a batch and the jobs per second, then what
decoding the views' values on the write path costs per row. The figures behind the
choices in perdure/store/postgres/store.py and views.py came from this script.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import psycopg

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.ids import InvocationId
from perdure.protocol.messages import MessageType
from perdure.store.api import InvocationRow, InvocationStatus, JournalEntryRow
from perdure.store.postgres import PostgresStore
from perdure.store.postgres.tables import PostgresTxn
from perdure.store.sqlite.tables import RowCache
from tests.support.postgres import PostgresCluster

Statement = tuple[str, tuple[Any, ...], bool]  # sql, params, reads a result


class _Capture:
    """Stands in for a cursor: records statements instead of running them."""

    def __init__(self) -> None:
        self.statements: list[Statement] = []
        self._returning = False

    def cursor(self) -> _Capture:
        return self

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        # An INSERT … RETURNING gives its row; anything else reads as "nothing found".
        self._returning = "RETURNING" in sql and sql.startswith("INSERT")
        reads = sql.lstrip().startswith("SELECT") or "RETURNING" in sql
        self.statements.append((sql, tuple(params), reads))

    def fetchone(self) -> tuple[Any, ...] | None:
        return (1,) if self._returning else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return []


def _capture(job: Callable[[PostgresTxn], object], rows: RowCache | None) -> list[Statement]:
    capture = _Capture()
    job(PostgresTxn(capture, rows))  # type: ignore[arg-type]
    if rows is not None:
        rows.job_succeeded()
    return capture.statements


def engine_jobs(n: int, salt: str, rows: RowCache | None = None) -> list[list[Statement]]:
    """3 jobs per invocation: Invoke, SdkFrames (one ctx.run), End. With `rows`, the
    statements the store's writer sends with its row cache (reads it answers are left out;
    the Counter service is in it, as in a running server)."""
    if rows is not None:
        rows.loaded(("services", "Counter"), None)
    jobs: list[list[Statement]] = []
    run = pb.RunCommandMessage(result_completion_id=1, name="step").SerializeToString()
    done = pb.OutputCommandMessage(value=pb.Value(content=b"42")).SerializeToString()
    for i in range(n):
        id_ = str(InvocationId.generate())
        key = f"{salt}-{i}"
        row = InvocationRow(
            id_, "Counter", "add", key, "VIRTUAL_OBJECT", "EXCLUSIVE",
            InvocationStatus.READY, 1, 1, random_seed=7,
        )  # fmt: skip

        def invoke(txn: PostgresTxn, row: InvocationRow = row, key: str = key) -> None:
            txn.get_service("Counter")
            txn.get_invocation(row.id)
            txn.lock_holder("Counter", key)
            txn.take_lock("Counter", key, row.id)
            txn.put_invocation(row)
            txn.append_entry(JournalEntryRow(row.id, 0, MessageType.INPUT, b"\x0a\x021", 1))
            txn.put_invocation(row)

        def frames(txn: PostgresTxn, row: InvocationRow = row) -> None:
            txn.get_invocation(row.id)
            txn.append_entry(JournalEntryRow(row.id, 1, MessageType.RUN, run, 2))
            txn.append_entry(
                JournalEntryRow(row.id, 2, MessageType.RUN_COMPLETION, b"\x08\x01", 2, 1)
            )
            txn.put_invocation(row)
            txn.has_notification(row.id, [1], [], 0)

        def end(txn: PostgresTxn, row: InvocationRow = row, key: str = key) -> None:
            txn.get_invocation(row.id)
            txn.append_entry(JournalEntryRow(row.id, 3, MessageType.OUTPUT, done, 3))
            txn.put_invocation(row)
            txn.release_lock("Counter", key)
            txn.pop_inbox("Counter", key)
            txn.take_waiters(row.id)

        jobs += [_capture(invoke, rows), _capture(frames, rows), _capture(end, rows)]
    return jobs


# ---- the variants -----------------------------------------------------------------------


def psycopg_batch(conn: psycopg.Connection[Any], jobs: list[list[Statement]]) -> None:
    cur = conn.cursor()
    conn.execute("BEGIN; SAVEPOINT job", prepare=False)
    for n, job in enumerate(jobs):
        if n:
            conn.execute("RELEASE job; SAVEPOINT job", prepare=False)
        for sql, params, reads in job:
            cur.execute(sql, params)
            if reads:
                cur.fetchall()
    conn.execute("RELEASE job")
    conn.execute("COMMIT")


def psycopg_pipeline_batch(conn: psycopg.Connection[Any], jobs: list[list[Statement]]) -> None:
    cur = conn.cursor()
    with conn.pipeline() as pipeline:
        conn.execute("BEGIN")
        for job in jobs:
            conn.execute("SAVEPOINT job")
            for sql, params, reads in job:
                cur.execute(sql, params)
                if reads:
                    cur.fetchall()  # the job needs the answer before it goes on
            conn.execute("RELEASE job")
            pipeline.sync()
        conn.execute("COMMIT")
        pipeline.sync()


_PLACEHOLDER = re.compile(r"%s")


def _dollar(sql: str) -> str:
    counter = iter(range(1, 1000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


async def asyncpg_batch(conn: asyncpg.Connection, jobs: list[list[Statement]]) -> None:
    async with conn.transaction():
        for job in jobs:
            async with conn.transaction():  # a savepoint
                for sql, params, reads in job:
                    if reads:
                        await conn.fetch(_dollar(sql), *params)
                    else:
                        await conn.execute(_dollar(sql), *params)


def asyncpg_bridged_batch(
    conn: asyncpg.Connection, loop: asyncio.AbstractEventLoop, jobs: list[list[Statement]]
) -> None:
    def call(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    call(conn.execute("BEGIN; SAVEPOINT job"))
    for n, job in enumerate(jobs):
        if n:
            call(conn.execute("RELEASE job; SAVEPOINT job"))
        for sql, params, reads in job:
            if reads:
                call(conn.fetch(_dollar(sql), *params))
            else:
                call(conn.execute(_dollar(sql), *params))
    call(conn.execute("RELEASE job; COMMIT"))


# ---- the views' decoded values: at write time or after fetching -------------------------


def decode_costs(rounds: int = 20_000) -> None:
    """What computing the views' decoded values on the write path would cost per row."""
    import timeit

    from perdure.store import introspection as i
    from perdure.store.entry_json import entry_json

    run = pb.RunCommandMessage(result_completion_id=1, name="step").SerializeToString()
    big = pb.InputCommandMessage(value=pb.Value(content=b"x" * 100_000)).SerializeToString()
    out = pb.OutputCommandMessage(value=pb.Value(content=b"42")).SerializeToString()
    cases: list[tuple[str, Callable[[], object]]] = [
        ("entry_name (Run)", lambda: i.entry_name(MessageType.RUN, run)),
        ("entry_name (100 kB Input)", lambda: i.entry_name(MessageType.INPUT, big)),
        ("completion_result+failure", lambda: (i.output_result(out), i.output_failure(out))),
        ("entry_json (Run)", lambda: entry_json(MessageType.RUN, run)),
        ("entry_json (100 kB Input)", lambda: entry_json(MessageType.INPUT, big)),
    ]
    for name, fn in cases:
        print(f"decode {name:28} {timeit.timeit(fn, number=rounds) / rounds * 1e6:8.1f} µs/row")
    print(
        f"entry_json of the 100 kB Input is {len(entry_json(MessageType.INPUT, big) or '')} chars"
    )


# ---- running it --------------------------------------------------------------------------


def _report(name: str, seconds: list[float], jobs: int) -> None:
    ordered = sorted(seconds)
    median = statistics.median(ordered)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(
        f"{name:18} batch median {median * 1000:7.2f} ms  p95 {p95 * 1000:7.2f} ms  "
        f"{jobs / median:8.0f} jobs/s  ({median / jobs * 1e6:6.0f} µs/job)"
    )


def _timed(
    run: Callable[[list[list[Statement]]], None], batches: list[list[list[Statement]]]
) -> list[float]:
    times = []
    for batch in batches:
        start = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - start)
    return times


async def main(batches: int, jobs_per_batch: int) -> None:
    cluster = PostgresCluster.start_new()
    try:
        url = cluster.create_database()
        store = PostgresStore.open(url)
        await store.close()
        invocations = max(1, jobs_per_batch // 3)
        jobs = 3 * invocations
        statements = sum(len(j) for j in engine_jobs(1, "count"))
        print(
            f"PostgreSQL {cluster.bin_dir.parent.name}, {batches} batches of {jobs} jobs "
            f"({statements} statements per invocation, 3 jobs), synchronous_commit=on"
        )

        def sets(tag: str) -> list[list[list[Statement]]]:
            return [engine_jobs(invocations, f"{tag}-{b}") for b in range(batches)]

        with psycopg.connect(url, autocommit=True, prepare_threshold=0) as conn:
            conn.execute("SET synchronous_commit = on")
            psycopg_batch(conn, engine_jobs(invocations, "warm-psycopg"))
            _report("psycopg", _timed(lambda b: psycopg_batch(conn, b), sets("p")), jobs)
            psycopg_pipeline_batch(conn, engine_jobs(invocations, "warm-pipeline"))
            times = _timed(lambda b: psycopg_pipeline_batch(conn, b), sets("pp"))
            _report("psycopg-pipeline", times, jobs)
            cached = [engine_jobs(invocations, f"c-{b}", RowCache()) for b in range(batches)]
            _report("psycopg+rowcache", _timed(lambda b: psycopg_batch(conn, b), cached), jobs)

        conn2 = await asyncpg.connect(url, server_settings={"synchronous_commit": "on"})
        try:
            await asyncpg_batch(conn2, engine_jobs(invocations, "warm-asyncpg"))
            times = []
            for batch in sets("a"):
                start = time.perf_counter()
                await asyncpg_batch(conn2, batch)
                times.append(time.perf_counter() - start)
            _report("asyncpg", times, jobs)
            loop = asyncio.get_running_loop()
            bridged = sets("ab")
            result: list[float] = []

            def on_thread() -> None:
                result.extend(_timed(lambda b: asyncpg_bridged_batch(conn2, loop, b), bridged))

            await asyncio.to_thread(on_thread)  # the loop stays free to serve asyncpg
            _report("asyncpg-bridged", result, jobs)
        finally:
            await conn2.close()
        decode_costs()
    finally:
        cluster.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=30, help="jobs per batch (3 per invocation)")
    args = parser.parse_args()
    asyncio.run(main(args.batches, args.jobs))
