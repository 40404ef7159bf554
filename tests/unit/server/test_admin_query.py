"""`POST /query` below HTTP: the SQLite store's views and read-only rules, rendered as the
admin API renders them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.messages import MessageType
from perdure.store.api import InvocationRow, JournalEntryRow, QueryError, QueryResult, WriteTxn
from perdure.store.sqlite import query
from perdure.store.sqlite.store import DB_FILE, SqliteStore


def json_rows(result: QueryResult) -> list[dict[str, object]]:
    """The store's rows with nulls left out and blobs as hex (as the admin API shows them)."""
    return [
        {
            name: value.hex() if isinstance(value, bytes) else value
            for name, value in zip(result.columns, row, strict=True)
            if value is not None
        }
        for row in result.rows
    ]


def run_query(db: Path, sql: str, **limits: float) -> list[dict[str, object]]:
    return json_rows(query.run_query(db, sql, **limits))  # type: ignore[arg-type]


FAILED = pb.OutputCommandMessage(failure=pb.Failure(code=418, message="boom"))


def _fill(txn: WriteTxn) -> None:
    base = dict(
        service_ty="VIRTUAL_OBJECT", handler_ty="EXCLUSIVE", created_at=1_000, modified_at=2_000
    )
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
            last_failure_stacktrace="at line 1",
            last_failure_doc_code="RT0007",
            **base,
        )
    )  # type: ignore[arg-type]
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
            **base,
        )
    )  # type: ignore[arg-type]
    run = pb.RunCommandMessage(result_completion_id=1, name="my-step")
    txn.append_entry(
        JournalEntryRow(
            "inv_a", 0, MessageType.INPUT, pb.InputCommandMessage().SerializeToString(), 1_000
        )
    )
    txn.append_entry(JournalEntryRow("inv_a", 1, MessageType.RUN, run.SerializeToString(), 1_001))
    txn.set_state("Counter", "k1", b"counter", b"42")
    txn.set_state("Counter", "k1", b"raw", b"\xff\x00")
    txn.take_lock("Counter", "k1", "inv_a")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("query")

    async def setup() -> None:
        store = SqliteStore.open(folder)
        try:
            await store.write(_fill)
        finally:
            await store.close()

    asyncio.run(setup())
    return folder / DB_FILE


def test_sys_invocation(db: Path) -> None:
    rows = run_query(db, "SELECT * FROM sys_invocation ORDER BY id")
    a, b = rows
    assert a["status"] == "backing-off" and a["retry_count"] == 2
    # restate's rendering: "[code name] message", the stack trace on the next line.
    assert a["last_failure"] == "[500 Internal] nope\nat line 1"
    assert a["last_failure_error_code"] == "RT0007"
    assert a["target"] == "Counter/k1/add" and a["target_service_ty"] == "virtual_object"
    assert a["created_at"] == "1970-01-01T00:00:01.000Z"
    assert "completion_result" not in a and "invoked_by_id" not in a  # nulls omitted
    assert b["completion_result"] == "failure" and b["completion_failure"] == "[418] boom"
    assert b["invoked_by"] == "service" and b["invoked_by_id"] == "inv_a"
    assert b["invoked_by_target"] == "Counter/k1/add"


def test_sys_journal_state_and_locks(db: Path) -> None:
    journal = run_query(db, "SELECT index, entry_type, name FROM sys_journal ORDER BY index")
    assert journal == [
        {"index": 0, "entry_type": "Command: Input", "name": ""},  # commands: "" if unnamed
        {"index": 1, "entry_type": "Command: Run", "name": "my-step"},
    ]
    state = run_query(db, "SELECT key, value_utf8, value FROM state ORDER BY key")
    assert state == [
        {"key": "counter", "value_utf8": "42", "value": "3432"},
        {"key": "raw", "value_utf8": "\ufffd\x00", "value": "ff00"},
    ]
    locks = run_query(db, "SELECT * FROM sys_keyed_service_status")
    assert locks == [{"service_name": "Counter", "service_key": "k1", "invocation_id": "inv_a"}]
    # 'index' inside a string literal is left alone.
    assert run_query(db, "SELECT 'index' AS word") == [{"word": "index"}]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM invocations",
        "SELECT * FROM main.state",
        "SELECT * FROM sqlite_master",
        "WITH x AS (SELECT * FROM journal) SELECT * FROM x",
        "DELETE FROM state",
        "INSERT INTO sys_service VALUES (1, 2, 3, 4, 5)",
        "CREATE TABLE t (a)",
        "DROP VIEW sys_journal",
        "ATTACH 'x.db' AS x",
        "VACUUM INTO 'y.db'",
        "PRAGMA writable_schema=1",
        "SELECT load_extension('z')",
        "SELECT writefile('w.txt', 'x')",
        "SELECT readfile('/etc/passwd')",
        "SELECT * FROM pragma_table_info('invocations')",
        "REPLACE INTO sys_deployment VALUES (1, 2, 3, 4, 5, 6)",
        "SELECT 1; SELECT 2",
        "SELECT nope FROM sys_invocation",
        "",
    ],
)
def test_refused(db: Path, sql: str) -> None:
    with pytest.raises(QueryError):
        run_query(db, sql)
    for made in ("x.db", "y.db", "w.txt"):
        assert not (db.parent / made).exists()


def test_limits(db: Path) -> None:
    endless = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    )
    with pytest.raises(QueryError, match="longer than"):
        run_query(db, endless, time_limit_s=0.2)
    many = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 11) SELECT x FROM c"
    )
    with pytest.raises(QueryError, match="more than 10 rows"):
        run_query(db, many, row_limit=10)
    assert len(run_query(db, many, row_limit=11)) == 11
    with pytest.raises(QueryError):
        run_query(db, "SELECT length(randomblob(1000000000))")
