# ruff: noqa: E501  (the queries are data, kept one per line as the tools send them)
"""How `POST /query` should run restate's SQL: measured, not guessed.

Fills a SQLite store with N invocations (4 journal entries and a state entry each), then
runs the SQL restate's CLI and UI send two ways:

  datafusion   perdure.server.query.QueryEngine: DataFusion over rows fetched from the views
  sqlglot      the query translated to SQLite's dialect (sqlglot, read=postgres) and run by
               the store itself (Store.query)

and prints, per query, whether each way ran it and DataFusion's median latency.

    python bench/query_engine.py [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlglot

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.messages import MessageType
from perdure.server.query import QueryEngine
from perdure.store.api import InvocationRow, JournalEntryRow, QueryError, WriteTxn
from perdure.store.sqlite.store import SqliteStore

ID = "inv_1jnVs6uItESb2StZgnO1ILCWxaKH1Y6h8J"
QUERIES = {
    "cli: active invocations (ids)": "SELECT id FROM sys_invocation inv WHERE inv.target_service_name = 'Svc' ORDER BY inv.created_at DESC, inv.id LIMIT 500",
    "cli: describe invocations": f"SELECT inv.id, inv.target, inv.status, inv.created_at, inv.last_start_at, inv.completion_result, dp.id IS NOT NULL as pinned_deployment_exists FROM sys_invocation inv LEFT JOIN sys_deployment dp ON dp.id = inv.pinned_deployment_id WHERE inv.id in ('{ID}') ORDER BY inv.created_at DESC, inv.id",
    "cli: pre-1.5 list (CTE, RIGHT JOIN)": "WITH invocations as (SELECT inv.id, inv.pinned_deployment_id, CAST(NULL as STRING) AS idempotency_key FROM sys_invocation inv LIMIT 50) SELECT inv.*, dp.id IS NOT NULL as pinned_deployment_exists FROM sys_deployment dp RIGHT JOIN invocations inv ON dp.id = inv.pinned_deployment_id",
    "cli: count lower bound": "SELECT COUNT(1) FROM (SELECT * FROM sys_invocation inv LIMIT 50000) WHERE inv.target_service_name = 'Svc'",
    "cli: status (== and FIRST_VALUE ORDER BY)": "SELECT target_service_name, target_handler_name, 'pending' as status, COUNT(1) as num_invocations, MIN(created_at) as oldest_at, FIRST_VALUE(id ORDER BY created_at ASC) as oldest_invocation FROM sys_invocation_status WHERE status == 'inboxed' AND target_service_name IN ('Svc') GROUP BY target_service_name, target_handler_name",
    "cli: status by handler": "SELECT target_service_name, target_handler_name, status, COUNT(1) as num_invocations, MIN(created_at) as oldest_at, FIRST_VALUE(id ORDER BY created_at ASC) as oldest_invocation FROM sys_invocation WHERE target_service_name IN ('Svc') GROUP BY target_service_name, target_handler_name, status ORDER BY target_handler_name",
    "cli: locked keys (first_value)": "SELECT target_service_name as service_name, target_service_key as service_key, status as invocation_status, first_value(id) as invocation_holding_lock, first_value(modified_at) as modified_at, 0 as num_pending, sum(retry_count) as num_retries FROM sys_invocation WHERE status != 'pending' AND target_service_name IN ('Svc') GROUP BY target_service_name, target_service_key, status",
    "cli: inbox per key": "SELECT service_name, service_key, COUNT(1) as num_pending FROM sys_inbox WHERE service_name IN ('Svc') GROUP BY service_name, service_key ORDER BY num_pending DESC",
    "cli: journal": f"SELECT sj.index, sj.entry_type, sj.completed, sj.invoked_id, sj.invoked_target, sj.sleep_wakeup_at, sj.name, sj.promise_name, sj.version, sj.entry_json, sj.appended_at FROM sys_journal sj WHERE sj.id = '{ID}' ORDER BY index DESC LIMIT 100",
    "cli: column probe (information_schema)": "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'sys_journal' AND column_name IN ('version', 'entry_json', 'appended_at')",
    "cli: state": "SELECT service_name, service_key, key, value FROM state WHERE service_name = 'Svc' AND service_key = 'k1'",
    "cli: deployment usage": "SELECT COUNT(1) AS inv_count FROM sys_invocation_status WHERE pinned_deployment_id = 'dp_x' AND status != 'completed'",
    "cli: virtual objects (IN subquery)": "SELECT id, target FROM sys_invocation_status WHERE target_service_name IN (select name from sys_service where ty = 'virtual_object') AND pinned_deployment_id NOT IN (select id from sys_deployment)",
    "ui: health probe": "SELECT 1 FROM sys_invocation_status LIMIT 1",
    "ui: FILTER (WHERE)": "SELECT COUNT(*) FILTER (WHERE status = 'completed') AS done, COUNT(*) AS total FROM sys_invocation",
    "ui: date_bin histogram": "SELECT date_bin(INTERVAL '60 seconds', completed_at, TIMESTAMP '1970-01-01T00:00:00') AS t, COUNT(*) AS n FROM sys_invocation WHERE completed_at IS NOT NULL GROUP BY 1 ORDER BY 1",
    "ui: duration (timestamp minus)": "SELECT id, COALESCE(completed_at, now()) - COALESCE(scheduled_start_at, created_at) AS took FROM sys_invocation ORDER BY created_at DESC LIMIT 20",
    "ui: ILIKE search": "SELECT id FROM sys_invocation WHERE target ILIKE '%svc/K1%' LIMIT 10",
    "ui: recent (ISO literal, NULLS LAST)": "SELECT id FROM sys_invocation WHERE created_at > '1970-01-01T00:00:00Z' ORDER BY completed_at DESC NULLS LAST LIMIT 10",
    "ui: ->> operator": "SELECT id, entry_json -> 'Command' -> 'Run' ->> 'name' AS step FROM sys_journal WHERE id = '"
    + ID
    + "'",
    "ui: sampling derived table": "SELECT status, COUNT(*) AS n FROM (SELECT status FROM sys_invocation_status LIMIT 1000) ss GROUP BY status",
    "ui: in-flight state": "SELECT COUNT(*) FILTER (WHERE in_flight) AS running, COUNT(*) FILTER (WHERE NOT in_flight AND retry_count > 0) AS backing_off FROM sys_invocation_state",
    "ui: UNION / EXCEPT": "WITH a AS (SELECT target_service_name AS s FROM sys_invocation) SELECT s FROM a UNION SELECT name FROM sys_service EXCEPT SELECT 'nope'",
    "ui: CROSS JOIN": "SELECT COUNT(*) FROM sys_service CROSS JOIN sys_deployment",
}


def fill(n: int):  # type: ignore[no-untyped-def]
    def job(txn: WriteTxn) -> None:
        run = pb.RunCommandMessage(result_completion_id=1, name="step").SerializeToString()
        for i in range(n):
            invocation_id = ID if i == 0 else f"inv_bench{i:030d}"
            txn.put_invocation(
                InvocationRow(
                    invocation_id,
                    "Svc",
                    "h",
                    f"k{i % 50}",
                    service_ty="VIRTUAL_OBJECT",
                    handler_ty="EXCLUSIVE",
                    status="completed" if i % 3 else "suspended",  # type: ignore[arg-type]
                    created_at=1_000 + i,
                    modified_at=2_000 + i,
                    completed_at=3_000 + i,
                )
            )
            txn.append_entry(JournalEntryRow(invocation_id, 0, MessageType.INPUT, b"", 1_000 + i))
            for index in range(1, 4):
                txn.append_entry(
                    JournalEntryRow(invocation_id, index, MessageType.RUN, run, 1_000 + i)
                )
            txn.set_state("Svc", f"k{i % 50}", b"count", str(i).encode())

    return job


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore.open(Path(folder))
        try:
            await store.write(fill(n))
            engine = QueryEngine(store)
            await engine.query("SELECT 1")  # import and first-session costs aside
            print(f"{n} invocations, {4 * n} journal entries\n")
            print(f"{'query':<44} {'datafusion':>12} {'sqlglot->sqlite':>16}")
            ok_df = ok_glot = 0
            for name, sql in QUERIES.items():
                times = []
                try:
                    for _ in range(5):
                        started = time.perf_counter()
                        await engine.query(sql)
                        times.append(time.perf_counter() - started)
                    df = f"{statistics.median(times) * 1000:8.1f} ms"
                    ok_df += 1
                except QueryError as exc:
                    df = "fails"
                    print("   datafusion:", str(exc)[:120])
                try:
                    translated = sqlglot.transpile(sql, read="postgres", write="sqlite")[0]
                    await store.query(translated)
                    glot = "runs"
                    ok_glot += 1
                except (QueryError, sqlglot.errors.SqlglotError) as exc:
                    glot = "fails: " + str(exc).splitlines()[0][:40]
                print(f"{name:<44} {df:>12} {glot:>16}")
            print(
                f"\nran: datafusion {ok_df}/{len(QUERIES)}, sqlglot->sqlite {ok_glot}/{len(QUERIES)}"
            )
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
