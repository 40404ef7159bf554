"""The tables of cluster mode inside the writer's transactions (`PartitionTables`).

`ClusterTxn` is `PostgresTxn` plus: reads restricted to one partition's key range (what a
new owner recovers, times and cleans), the partition inboxes, replies for other nodes,
result watchers, and notifications. Notifications are kept per job and sent in one
statement right before COMMIT, so a job rolled back to its savepoint sends none, and
PostgreSQL delivers them only once the transaction committed.

A write of a service or a deployment notifies `SCHEMA_CHANNEL`: other nodes drop what
they cached of them.
"""

from __future__ import annotations

from typing import Any

import psycopg

from perdure.store.api import (
    DeploymentRow,
    InvocationRow,
    InvocationStatus,
    ServiceRow,
    TimerRow,
)
from perdure.store.partitioning import invocation_partition_key, stored
from perdure.store.postgres.tables import (
    _INVOCATION_SELECT,
    _TIMER_COLUMNS,
    PostgresTxn,
    _invocation_from_row,
    _timer_from_row,
)
from perdure.store.rowcache import RowCache

SCHEMA_CHANNEL = "perdure_schema"
INBOX_CHANNEL = "perdure_inbox"
REPLY_CHANNEL = "perdure_reply"
LEASE_CHANNEL = "perdure_leases"


class ClusterTxn(PostgresTxn):
    """`PostgresTxn` with `perdure.store.api.PartitionTables`."""

    def __init__(self, conn: psycopg.Connection[Any], rows: RowCache | None = None) -> None:
        super().__init__(conn, rows)
        self._job_notes: list[tuple[str, str]] = []
        self._notes: dict[tuple[str, str], None] = {}  # ordered, without duplicates

    # -- notifications, sent at commit ------------------------------------------------

    def notify(self, channel: str, payload: str) -> None:
        self._job_notes.append((channel, payload))

    def job_done(self, succeeded: bool) -> None:
        if succeeded:
            self._notes.update(dict.fromkeys(self._job_notes))
        self._job_notes.clear()

    def before_commit(self) -> None:
        if not self._notes:
            return
        channels = [c for c, _ in self._notes]
        payloads = [p for _, p in self._notes]
        self._notes.clear()
        self._run(
            "SELECT pg_notify(c, p) FROM unnest(%s::text[], %s::text[]) AS n(c, p)",
            (channels, payloads),
        )

    # -- schema rows: other nodes must forget their copies -----------------------------

    def put_deployment(self, row: DeploymentRow) -> None:
        super().put_deployment(row)
        self.notify(SCHEMA_CHANNEL, "")

    def delete_deployment(self, deployment_id: str) -> None:
        super().delete_deployment(deployment_id)
        self.notify(SCHEMA_CHANNEL, "")

    def put_service(self, row: ServiceRow) -> None:
        super().put_service(row)
        self.notify(SCHEMA_CHANNEL, "")

    def delete_service(self, name: str) -> None:
        super().delete_service(name)
        self.notify(SCHEMA_CHANNEL, "")

    # -- one partition's rows ------------------------------------------------------------

    def invocations_with_status_in(
        self, status: InvocationStatus, first: int, last: int
    ) -> list[InvocationRow]:
        rows = self._all(
            f"{_INVOCATION_SELECT} WHERE status = %s AND partition_key BETWEEN %s AND %s "
            "ORDER BY created_at, id",
            (str(status), stored(first), stored(last)),
        )
        return [_invocation_from_row(r) for r in rows]

    def expired_completions_in(
        self, now: int, limit: int, first: int, last: int
    ) -> list[InvocationRow]:
        rows = self._all(
            f"{_INVOCATION_SELECT} WHERE status = 'completed' "
            "AND partition_key BETWEEN %s AND %s "
            "AND completed_at + completion_retention_ms <= %s ORDER BY completed_at, id LIMIT %s",
            (stored(first), stored(last), now, limit),
        )
        return [_invocation_from_row(r) for r in rows]

    def expired_journals_in(
        self, now: int, limit: int, first: int, last: int
    ) -> list[InvocationRow]:
        rows = self._all(
            f"{_INVOCATION_SELECT} WHERE status = 'completed' AND journal_length > 0 "
            "AND partition_key BETWEEN %s AND %s "
            "AND completed_at + journal_retention_ms <= %s ORDER BY completed_at, id LIMIT %s",
            (stored(first), stored(last), now, limit),
        )
        return [_invocation_from_row(r) for r in rows]

    def timers_in(self, first: int, last: int) -> list[TimerRow]:
        rows = self._all(
            f"SELECT {_TIMER_COLUMNS} FROM timers WHERE partition_key BETWEEN %s AND %s "
            "ORDER BY due_at, id",
            (stored(first), stored(last)),
        )
        return [_timer_from_row(r) for r in rows]

    # -- inboxes, replies, watchers ---------------------------------------------------------

    def push_message(self, partition: int, body: bytes) -> None:
        self._run(
            "INSERT INTO partition_messages (partition, body) VALUES (%s, %s)", (partition, body)
        )
        self.notify(INBOX_CHANNEL, str(partition))

    def take_message(self, message_id: int) -> bool:
        return (
            self._one("DELETE FROM partition_messages WHERE id = %s RETURNING 1", (message_id,))
            is not None
        )

    def push_reply(self, node: str, request_id: str, body: bytes) -> None:
        self._run(
            "INSERT INTO command_replies (node, request_id, body) VALUES (%s, %s, %s)",
            (node, request_id, body),
        )
        self.notify(REPLY_CHANNEL, node)

    def add_result_watcher(self, invocation_id: str, node: str) -> None:
        self._run(
            "INSERT INTO result_watchers (invocation_id, node, partition_key) "
            "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (invocation_id, node, stored(invocation_partition_key(invocation_id))),
        )

    def take_result_watchers(self, invocation_id: str) -> list[str]:
        rows = self._all(
            "DELETE FROM result_watchers WHERE invocation_id = %s RETURNING node",
            (invocation_id,),
        )
        return sorted(str(r[0]) for r in rows)
