"""Cluster coordination in the database: nodes, partition leases, inboxes and replies.

What a node does besides the engine's writes, on connections of its own (asyncio,
autocommit: each statement is its own transaction):

* **Nodes** say they are alive by a heartbeat; a node is live while its last heartbeat
  is younger than its lease TTL. A session advisory lock on the node's name keeps two
  processes from running as the same node.
* **Leases.** One row per partition: the node that leases it, the fencing `epoch` and
  when the lease ends (`expires_at`, the database's clock, so the nodes' clocks do not
  matter). `acquire` takes free, expired or formerly-own partitions and bumps their
  epoch; `renew` extends only leases still at the epoch the node holds; `release` hands
  partitions back at once. Both lock the rows `FOR UPDATE`: that conflicts with the
  `FOR KEY SHARE` a fenced write transaction holds on its lease (store.py), so the epoch
  never changes under a write in flight. `acquire` skips rows it cannot lock at once
  (`SKIP LOCKED`); a lock wait is bounded by `lock_timeout`.
* **Inboxes and replies** are read here (`read_messages`, `take_replies`) and written by
  the engine's transactions (`cluster_tables.ClusterTxn`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from perdure.store.api import StoreError
from perdure.store.postgres.cluster_tables import (
    INBOX_CHANNEL,
    LEASE_CHANNEL,
    REPLY_CHANNEL,
    SCHEMA_CHANNEL,
)

logger = logging.getLogger(__name__)

CHANNELS = (INBOX_CHANNEL, REPLY_CHANNEL, SCHEMA_CHANNEL, LEASE_CHANNEL)
LOCK_TIMEOUT_MS = 2_000
STATEMENT_TIMEOUT_MS = 15_000
KEEPALIVE_S = 5.0

_TTL = "%(ttl)s * interval '1 millisecond'"


@dataclass(frozen=True, slots=True)
class LeaseRow:
    partition: int
    node: str | None
    epoch: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class NodeRow:
    name: str
    started_at: datetime
    heartbeat_at: datetime
    lease_ttl_ms: int
    stopped: bool
    live: bool


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    now: datetime
    partitions: int
    nodes: list[NodeRow]
    leases: list[LeaseRow]


def node_lock_key(database: str, node: str) -> int:
    digest = hashlib.sha256(f"perdure-node:{database}:{node}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Coordination:
    """One autocommit connection for coordination statements, reconnected on demand.

    Every method raises `StoreError` when the database cannot be reached; the next call
    connects again. `on_connect` runs on every new connection (the lease loop takes the
    node's name lock there)."""

    def __init__(self, conninfo: str, application: str) -> None:
        self.conninfo = conninfo
        self.application = application
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def connection(self) -> psycopg.AsyncConnection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if conn is not None:
            await conn.close()
        self._conn = None
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.conninfo,
                autocommit=True,
                application_name=self.application,
                connect_timeout=5,
            )
            await conn.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
            await conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {str(exc).strip()}") from None
        self._conn = conn
        return conn

    @property
    def fresh(self) -> bool:
        """No connection is open: the next call connects (and runs `on_connect` again)."""
        return self._conn is None or self._conn.closed or self._conn.broken

    async def _rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        conn = await self.connection()
        try:
            cursor = await conn.execute(sql.encode(), params)
            return await cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            if conn.broken or isinstance(exc, psycopg.OperationalError):
                await conn.close()
            raise StoreError(f"coordination statement failed: {str(exc).strip()}") from None

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    # -- nodes ---------------------------------------------------------------------------

    async def lock_node_name(self, node: str) -> bool:
        """Take the session lock of this node's name (False: another process holds it)."""
        conn = await self.connection()
        key = node_lock_key(conn.info.dbname, node)
        rows = await self._rows("SELECT pg_try_advisory_lock(%(key)s)", {"key": key})
        return bool(rows and rows[0][0])

    async def ensure_leases(self, partitions: int) -> None:
        await self._rows(
            "INSERT INTO leases (partition, node, epoch, expires_at) "
            "SELECT p, NULL, 0, now() FROM generate_series(0, %(n)s - 1) AS p "
            "ON CONFLICT DO NOTHING",
            {"n": partitions},
        )

    async def heartbeat(self, node: str, ttl_ms: int) -> int:
        """Record that `node` is alive; return how many nodes are live (itself included)."""
        await self._rows(
            "INSERT INTO nodes (name, started_at, heartbeat_at, lease_ttl_ms, stopped) "
            "VALUES (%(node)s, now(), now(), %(ttl)s, false) ON CONFLICT (name) DO UPDATE "
            "SET heartbeat_at = now(), lease_ttl_ms = EXCLUDED.lease_ttl_ms, stopped = false",
            {"node": node, "ttl": ttl_ms},
        )
        rows = await self._rows(
            "SELECT count(*) FROM nodes WHERE name <> %(node)s AND NOT stopped "
            "AND heartbeat_at > now() - lease_ttl_ms * interval '1 millisecond'",
            {"node": node},
        )
        return int(rows[0][0]) + 1

    async def started(self, node: str) -> None:
        """A new process of `node`: its replies from before are for nobody any more."""
        await self._rows(
            "UPDATE nodes SET started_at = now() WHERE name = %(node)s", {"node": node}
        )
        await self._rows("DELETE FROM command_replies WHERE node = %(node)s", {"node": node})

    async def stopped(self, node: str) -> None:
        await self._rows("UPDATE nodes SET stopped = true WHERE name = %(node)s", {"node": node})

    # -- leases ----------------------------------------------------------------------------

    async def acquire(
        self, node: str, exclude: Iterable[int], limit: int, ttl_ms: int
    ) -> dict[int, int]:
        """Lease up to `limit` partitions not in `exclude` that are free, expired or were
        this node's (a previous process of it); {partition: new epoch}."""
        if limit <= 0:
            return {}
        rows = await self._rows(
            "WITH wanted AS (SELECT partition FROM leases "
            "WHERE partition <> ALL(%(exclude)s::int[]) "
            "AND (node IS NULL OR node = %(node)s OR expires_at < now()) "
            "ORDER BY CASE WHEN node = %(node)s THEN 0 WHEN node IS NULL THEN 1 ELSE 2 END, "
            "partition LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
            "UPDATE leases l SET node = %(node)s, epoch = l.epoch + 1, "
            f"expires_at = now() + {_TTL} FROM wanted WHERE l.partition = wanted.partition "
            "RETURNING l.partition, l.epoch",
            {"node": node, "exclude": sorted(exclude), "limit": limit, "ttl": ttl_ms},
        )
        return {int(p): int(e) for p, e in rows}

    async def renew(self, node: str, held: Mapping[int, int], ttl_ms: int) -> set[int]:
        """Extend the leases `node` holds at these epochs; the partitions renewed."""
        if not held:
            return set()
        rows = await self._rows(
            f"UPDATE leases l SET expires_at = now() + {_TTL} "
            "FROM unnest(%(partitions)s::int[], %(epochs)s::bigint[]) AS h(partition, epoch) "
            "WHERE l.partition = h.partition AND l.epoch = h.epoch AND l.node = %(node)s "
            "RETURNING l.partition",
            {"node": node, "partitions": list(held), "epochs": list(held.values()), "ttl": ttl_ms},
        )
        return {int(r[0]) for r in rows}

    async def release(self, node: str, held: Mapping[int, int]) -> set[int]:
        """Hand partitions back now (after any fenced write of them in flight); wakes the
        other nodes. The partitions released."""
        if not held:
            return set()
        rows = await self._rows(
            "WITH mine AS (SELECT l.partition FROM leases l "
            "JOIN unnest(%(partitions)s::int[], %(epochs)s::bigint[]) AS h(partition, epoch) "
            "ON l.partition = h.partition AND l.epoch = h.epoch "
            "WHERE l.node = %(node)s FOR UPDATE OF l) "
            "UPDATE leases l SET node = NULL, expires_at = now() FROM mine "
            "WHERE l.partition = mine.partition RETURNING l.partition",
            {"node": node, "partitions": list(held), "epochs": list(held.values())},
        )
        await self._rows(
            "SELECT pg_notify(%(channel)s, %(node)s)", {"channel": LEASE_CHANNEL, "node": node}
        )
        return {int(r[0]) for r in rows}

    # -- inboxes and replies ------------------------------------------------------------------

    async def read_messages(
        self, partitions: Iterable[int], limit: int
    ) -> list[tuple[int, int, bytes]]:
        """The oldest messages waiting in these partitions' inboxes: (id, partition, body)."""
        rows = await self._rows(
            "SELECT id, partition, body FROM partition_messages "
            "WHERE partition = ANY(%(partitions)s::int[]) ORDER BY id LIMIT %(limit)s",
            {"partitions": sorted(partitions), "limit": limit},
        )
        return [(int(i), int(p), bytes(b)) for i, p, b in rows]

    async def take_replies(self, node: str) -> list[tuple[str, bytes]]:
        """Remove and return what was answered to `node`: (request id, body), oldest first."""
        rows = await self._rows(
            "DELETE FROM command_replies WHERE node = %(node)s RETURNING id, request_id, body",
            {"node": node},
        )
        return [(str(r), bytes(b)) for _, r, b in sorted(rows)]

    async def drop_old_replies(self, older_than_ms: int) -> None:
        """Replies nobody fetched (their node died): forget them."""
        await self._rows(
            f"DELETE FROM command_replies WHERE created_at < now() - {_TTL}",
            {"ttl": older_than_ms},
        )

    # -- status ----------------------------------------------------------------------------

    async def status(self) -> ClusterStatus:
        now_rows = await self._rows(
            "SELECT now(), (SELECT value FROM meta WHERE name = 'partitions')"
        )
        nodes = await self._rows(
            "SELECT name, started_at, heartbeat_at, lease_ttl_ms, stopped, "
            "NOT stopped AND heartbeat_at > now() - lease_ttl_ms * interval '1 millisecond' "
            "FROM nodes ORDER BY name"
        )
        leases = await self._rows(
            "SELECT partition, node, epoch, expires_at FROM leases ORDER BY partition"
        )
        return ClusterStatus(
            now=now_rows[0][0],
            partitions=int(now_rows[0][1]),
            nodes=[NodeRow(n, s, h, int(t), bool(x), bool(live)) for n, s, h, t, x, live in nodes],
            leases=[LeaseRow(int(p), n, int(e), x) for p, n, e, x in leases],
        )


async def notifications(conninfo: str, application: str) -> AsyncIterator[tuple[str, str] | None]:
    """LISTEN on the cluster's channels; yields (channel, payload), and None each time a
    new connection starts listening (anything sent meanwhile was missed). Raises
    `StoreError` when the connection is lost; the caller listens again."""
    try:
        conn = await psycopg.AsyncConnection.connect(
            conninfo, autocommit=True, application_name=application, connect_timeout=5
        )
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to PostgreSQL: {str(exc).strip()}") from None
    try:
        for channel in CHANNELS:
            await conn.execute(f"LISTEN {channel}")
        yield None
        while True:
            async for note in conn.notifies(timeout=KEEPALIVE_S):
                yield note.channel, note.payload
            # Quiet for a while: make sure the connection is still there.
            await conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise StoreError(f"lost the notification connection: {str(exc).strip()}") from None
    finally:
        await conn.close()
