"""`Store.query`: the introspection views (restate's system tables), read-only.

The same SQL gives the same rows on every store: each query below (the console's, the
CLI's, restate's shapes) runs on an SQLite and a PostgreSQL store holding the same data,
and the rows, rendered as the admin API renders them, must be equal.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from perdure.cli.invocations import list_query
from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.messages import MessageType
from perdure.server.query.engine import QueryEngine
from perdure.store.api import (
    DeploymentRow,
    InvocationRow,
    JournalEntryRow,
    QueryError,
    QueryResult,
    ServiceRow,
    Store,
    WriteTxn,
)

from .conftest import Backend, _postgres, _sqlite

# One pair of stores for the module, on the module's event loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")

FAILED = pb.OutputCommandMessage(failure=pb.Failure(code=418, message="boom"))
VALUE = pb.OutputCommandMessage(value=pb.Value(content=b'"done"'))


def json_rows(result: QueryResult) -> list[dict[str, object]]:
    """A store's rows as the admin API's JSON shows them: nulls left out, blobs as hex.
    (The admin API now renders through its query engine; the contract is the store's.)"""
    return [
        {
            name: bytes(value).hex() if isinstance(value, bytes | bytearray | memoryview) else value
            for name, value in zip(result.columns, row, strict=True)
            if value is not None
        }
        for row in result.rows
    ]


def fill(txn: WriteTxn) -> None:
    base = dict(
        service_ty="VIRTUAL_OBJECT", handler_ty="EXCLUSIVE", created_at=1_000, modified_at=2_000
    )
    txn.put_deployment(
        DeploymentRow("dp_1", "http://svc", True, "REQUEST_RESPONSE", 5, 6, {}, None, 1_500, "{}")
    )
    txn.put_service(ServiceRow("Counter", "dp_1", 2, "VIRTUAL_OBJECT", True, "{}"))
    txn.put_service(ServiceRow("Greeter", "dp_1", 1, "SERVICE", False, "{}"))
    txn.put_invocation(
        InvocationRow(
            "inv_a",
            "Counter",
            "add",
            "k1",
            status="backing-off",
            retry_count=2,
            last_failure="nope",
            last_failure_code=500,
            next_retry_at=9_000,
            **base,
        )  # type: ignore[arg-type]
    )
    txn.put_invocation(
        InvocationRow(
            "inv_b",
            "Counter",
            "add",
            "k2",
            status="completed",
            caller_id="inv_a",
            invoked_by="service",
            result=FAILED.SerializeToString(),
            completed_at=3_000,
            **{**base, "created_at": 1_100},
        )  # type: ignore[arg-type]
    )
    txn.put_invocation(
        InvocationRow(
            "inv_c",
            "Greeter",
            "greet",
            None,
            service_ty="SERVICE",
            handler_ty=None,
            status="completed",
            created_at=1_200,
            modified_at=1_300,
            completed_at=1_300,
            result=VALUE.SerializeToString(),
        )
    )
    txn.put_invocation(InvocationRow("inv_d", "Counter", "add", "k1", status="pending", **base))  # type: ignore[arg-type]
    run = pb.RunCommandMessage(result_completion_id=1, name="my-step")
    txn.append_entry(
        JournalEntryRow(
            "inv_a", 0, MessageType.INPUT, pb.InputCommandMessage().SerializeToString(), 1_000
        )
    )
    txn.append_entry(JournalEntryRow("inv_a", 1, MessageType.RUN, run.SerializeToString(), 1_001))
    txn.append_entry(JournalEntryRow("inv_a", 2, 0x7777, b"\x01\x02", 1_002))  # unknown type
    # A call and the notification naming its callee: entry_json shows the callee's row.
    call = pb.CallCommandMessage(
        service_name="Counter",
        handler_name="add",
        key="k2",
        parameter=b"1",
        invocation_id_notification_idx=2,
        result_completion_id=3,
    )
    callee = pb.NotificationTemplate(completion_id=2, invocation_id="inv_b")
    txn.append_entry(JournalEntryRow("inv_a", 3, MessageType.CALL, call.SerializeToString(), 1_003))
    txn.append_entry(
        JournalEntryRow(
            "inv_a",
            4,
            MessageType.CALL_INVOCATION_ID_COMPLETION,
            callee.SerializeToString(),
            1_004,
        )
    )
    txn.set_state("Counter", "k1", b"counter", b"42")
    txn.set_state("Counter", "k1", b"raw", b"\xff\x00")
    txn.set_state("Counter", "k2", b"a", b"1")
    txn.take_lock("Counter", "k1", "inv_a")
    txn.push_inbox("Counter", "k1", "inv_d")
    txn.push_inbox("Counter", "k1", None, state_mutation=b"x")  # not shown in sys_inbox
    txn.complete_promise("Wf", "w1", "ok", VALUE.SerializeToString())
    txn.complete_promise("Wf", "w1", "bad", FAILED.SerializeToString())


# Queries whose rows every store must give alike (the console's pages, the CLI, restate's
# shapes). All have a total order, so rows are compared as lists.
SAME_ROWS = [
    "SELECT * FROM sys_invocation ORDER BY id",
    "SELECT status, COUNT(*) AS n FROM sys_invocation GROUP BY status ORDER BY n DESC, status",
    "SELECT COUNT(*) AS n FROM sys_invocation WHERE completion_result = 'failure'",
    "SELECT id, target, retry_count, last_failure, next_retry_at FROM sys_invocation "
    "WHERE status = 'backing-off' ORDER BY modified_at DESC LIMIT 50",
    "SELECT target_service_name, target_handler_name, COUNT(*) AS n FROM sys_invocation "
    "GROUP BY target_service_name, target_handler_name ORDER BY n DESC, target_service_name",
    "SELECT l.service_name, l.service_key, l.invocation_id, COUNT(b.id) AS waiting "
    "FROM sys_keyed_service_status l LEFT JOIN sys_inbox b ON b.service_name = l.service_name "
    "AND b.service_key = l.service_key GROUP BY l.service_name, l.service_key, l.invocation_id",
    "SELECT service_name, service_key, key, value_length FROM state "
    "ORDER BY service_name, service_key, key LIMIT 100",
    "SELECT key, value_utf8, value FROM state ORDER BY service_key, key",
    "SELECT * FROM sys_state ORDER BY service_key, key",
    "SELECT service_key, COUNT(*) AS entries FROM state WHERE service_name = 'Counter' "
    "GROUP BY service_key ORDER BY service_key LIMIT 500",
    "SELECT name, ty, deployment_id FROM sys_service ORDER BY name",
    "SELECT * FROM sys_service ORDER BY name",
    "SELECT * FROM sys_deployment",
    "SELECT * FROM sys_journal ORDER BY id, index",
    "SELECT index, entry_type, name, appended_at FROM sys_journal WHERE id = 'inv_a' "
    "ORDER BY index",
    "SELECT id, entry_json FROM sys_journal WHERE id IN ('inv_a') ORDER BY index",
    "SELECT * FROM sys_inbox ORDER BY sequence_number",
    "SELECT COUNT(*) AS n FROM sys_inbox WHERE service_name = 'Counter' AND service_key = 'k1'",
    "SELECT id FROM sys_inbox WHERE service_name = 'Counter' AND service_key = 'k1' "
    "ORDER BY sequence_number",
    "SELECT * FROM sys_keyed_service_status",
    "SELECT * FROM sys_promise ORDER BY key",
    "SELECT service_key, key, completed, completion_success_value, completion_failure "
    "FROM sys_promise WHERE service_name = 'Wf' ORDER BY key",
    "SELECT id, target FROM sys_invocation WHERE target LIKE 'Counter/%' ORDER BY id",
    "SELECT id FROM sys_invocation WHERE invoked_by_id IN ('inv_a') ORDER BY created_at, id",
    "SELECT id, status FROM sys_invocation WHERE created_at > '1970-01-01T00:00:01.050Z' "
    "ORDER BY id",
    "SELECT 'index' AS word",
    list_query((), None, None, None, 50),
    list_query(("completed",), "Counter", "k2", "add", 10),
]

REFUSED = [
    "SELECT * FROM invocations",
    "SELECT * FROM public.invocations",
    "SELECT * FROM main.state",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM meta",
    "WITH x AS (SELECT * FROM journal) SELECT * FROM x",
    "DELETE FROM state",
    "DELETE FROM sys_state",
    "UPDATE sys_invocation SET status = 'x'",
    "INSERT INTO sys_service VALUES (1, 2, 3, 4, 5)",
    "CREATE TABLE t (a INTEGER)",
    "CREATE TEMP TABLE t (a INTEGER)",
    "DROP VIEW sys_journal",
    "ATTACH 'x.db' AS x",
    "VACUUM INTO 'y.db'",
    "PRAGMA writable_schema=1",
    "SELECT load_extension('z')",
    "SELECT writefile('w.txt', 'x')",
    "SELECT readfile('/etc/passwd')",
    "SELECT * FROM pragma_table_info('invocations')",
    "REPLACE INTO sys_deployment VALUES (1, 2, 3, 4, 5, 6)",
    "SELECT * FROM pg_catalog.pg_authid",
    "SELECT lo_import('/etc/hostname')",
    "SELECT pg_read_file('/etc/hostname')",
    "SELECT query_to_xml('SELECT * FROM public.meta', true, true, '')",
    "COPY (SELECT 1) TO '/tmp/perdure-copy'",
    "SET ROLE perdure",
    "SELECT 1; SELECT 2",
    "SELECT nope FROM sys_invocation",
    "",
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def filled(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Store]]:
    """One SQLite and one PostgreSQL store with the same rows."""
    backends: list[Backend] = [_sqlite(tmp_path_factory.mktemp("query") / "data"), _postgres()]
    stores = {backend.name: backend.open() for backend in backends}
    try:
        for opened in stores.values():
            await opened.write(fill)
        yield stores
    finally:
        for opened in stores.values():
            await opened.close()


@pytest.mark.parametrize("sql", SAME_ROWS)
async def test_same_sql_gives_the_same_rows(filled: dict[str, Store], sql: str) -> None:
    rendered = {name: json_rows(await opened.query(sql)) for name, opened in filled.items()}
    assert rendered["sqlite"], "a query that returns nothing proves little"
    assert rendered["postgres"] == rendered["sqlite"]


async def test_rows_are_restates_shapes(filled: dict[str, Store]) -> None:
    for opened in filled.values():
        a, b, c, _ = json_rows(await opened.query("SELECT * FROM sys_invocation ORDER BY id"))
        assert a["status"] == "backing-off" and a["retry_count"] == 2
        # restate's rendering: "[code name] message"; its error code is a documentation code
        # (RT…), none here. No `in_flight` column: restate's sys_invocation has none.
        assert a["last_failure"] == "[500 Internal] nope" and "last_failure_error_code" not in a
        assert a["target"] == "Counter/k1/add" and a["target_service_ty"] == "virtual_object"
        assert a["created_at"] == "1970-01-01T00:00:01.000Z" and "in_flight" not in a
        assert "completion_result" not in a and "invoked_by_id" not in a  # nulls omitted
        assert b["completion_result"] == "failure" and b["completion_failure"] == "[418] boom"
        assert b["invoked_by"] == "service" and b["invoked_by_target"] == "Counter/k1/add"
        assert c["target"] == "Greeter/greet" and c["completion_result"] == "success"
        journal = json_rows(
            await opened.query("SELECT index, entry_type, name FROM sys_journal ORDER BY index")
        )
        assert journal == [
            {"index": 0, "entry_type": "Command: Input", "name": ""},  # unnamed: "" as restate
            {"index": 1, "entry_type": "Command: Run", "name": "my-step"},
            {"index": 2, "entry_type": "Unknown: 0x7777"},
            {"index": 3, "entry_type": "Command: Call", "name": ""},
            {"index": 4, "entry_type": "Notification: CallInvocationId"},
        ]
        state = json_rows(
            await opened.query(
                "SELECT key, value_utf8, value FROM state WHERE service_key = 'k1' ORDER BY key"
            )
        )
        assert state == [
            {"key": "counter", "value_utf8": "42", "value": "3432"},
            {"key": "raw", "value_utf8": "\ufffd\x00", "value": "ff00"},
        ]
        promises = json_rows(await opened.query("SELECT * FROM sys_promise ORDER BY key"))
        assert promises[1]["completion_success_value_utf8"] == '"done"'
        assert promises[0]["completion_failure"] == "[418] boom"
        (entry,) = json_rows(
            await opened.query("SELECT entry_json FROM sys_journal WHERE index = 1")
        )
        assert json.loads(str(entry["entry_json"])) == {
            "Command": {"Run": {"completion_id": 1, "name": "my-step"}}
        }
        (call,) = json_rows(
            await opened.query("SELECT entry_json FROM sys_journal WHERE index = 3")
        )
        request = json.loads(str(call["entry_json"]))["Command"]["Call"]["request"]
        assert request["invocation_id"] == "inv_b"
        assert request["invocation_target"] == {
            "VirtualObject": {
                "name": "Counter",
                "key": "k2",
                "handler": "add",
                "handler_ty": "Exclusive",
                "scope": None,
            }
        }
        assert request["parameter"] == [ord("1")]


async def test_an_empty_answer_still_names_its_columns(filled: dict[str, Store]) -> None:
    """The query engine learns a view's columns from `SELECT * … LIMIT 0` (PostgreSQL's
    streamed cursor once gave none, and every /query there answered nulls)."""
    for opened in filled.values():
        empty = await opened.query("SELECT id, status FROM sys_invocation WHERE id = 'none'")
        assert empty.columns == ("id", "status") and empty.rows == []
        assert "entry_json" in (await opened.query("SELECT * FROM sys_journal LIMIT 0")).columns


async def test_restates_dialect_reads_every_store(filled: dict[str, Store]) -> None:
    """`/query`'s engine (DataFusion over the store's views) gives the same rows on each."""
    sql = (
        "SELECT id, index, entry_type, entry_lite_json ->> 'Command' IS NOT NULL AS command "
        "FROM sys_journal WHERE id = 'inv_a' ORDER BY index"
    )
    for opened in filled.values():
        rows = (await QueryEngine(opened).query(sql)).to_pylist()
        assert [(r["index"], r["entry_type"]) for r in rows] == [
            (0, "Command: Input"),
            (1, "Command: Run"),
            (2, "Unknown: 0x7777"),
            (3, "Command: Call"),
            (4, "Notification: CallInvocationId"),
        ]
        assert {r["id"] for r in rows} == {"inv_a"}


@pytest.mark.parametrize("sql", REFUSED)
async def test_refused(filled: dict[str, Store], sql: str, tmp_path: Path) -> None:
    for opened in filled.values():
        with pytest.raises(QueryError):
            await opened.query(sql)
    # Nothing was written anywhere, and the stores still answer.
    for opened in filled.values():
        assert json_rows(await opened.query("SELECT COUNT(*) AS n FROM sys_service")) == [{"n": 2}]
        assert await opened.read(lambda txn: txn.get_invocation("inv_a")) is not None
    assert not await asyncio.to_thread(Path("/tmp/perdure-copy").exists)


async def test_row_limit(filled: dict[str, Store]) -> None:
    def numbers(n: int) -> str:
        return (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < "
            f"{n}) SELECT x FROM c"
        )

    for opened in filled.values():
        assert len((await opened.query(numbers(10_000))).rows) == 10_000
        with pytest.raises(QueryError, match="more than 10000 rows"):
            await opened.query(numbers(10_001))
