"""SQL for every table of `perdure.store.api`, on one psycopg connection.

`PostgresTxn` only issues statements; the transaction around them is opened and committed
by the writer in `store.py`. Besides each row's own columns it writes the row's
`partition_key` (`perdure.store.partitioning`) and the few decoded values the
introspection views filter on (`completion_result`, `completion_failure`, `entry_name`,
`key_utf8`), computed here from the payload so that SQL can use them.

The writer's transactions go through a `RowCache` (the SQLite store's: invocation,
service and deployment rows as this writer wrote or read them), which saves the reads
every command starts with; it is valid because this writer is the database's only one.

Statements are fixed strings (so the server prepares each once) with `= ANY(array)`
instead of variable-length IN lists.
"""

from __future__ import annotations

import json
import operator
import uuid
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import psycopg

from perdure.store import introspection
from perdure.store.api import (
    DeploymentRow,
    InboxRow,
    InvocationRow,
    InvocationStatus,
    JournalEntryRow,
    ServiceRow,
    TimerKind,
    TimerRow,
    WaiterRow,
)
from perdure.store.partitioning import invocation_partition_key, key_partition_key, stored
from perdure.store.postgres.feature_tables import FeatureTables

# The SQLite writer's write-through cache works for any single writer.
from perdure.store.rowcache import Cached, CacheKey, RowCache

_U64 = 1 << 64
_INVOCATION_COLUMNS = [f.name for f in fields(InvocationRow)]
_EXTRA_COLUMNS = ["partition_key", "completion_result", "completion_failure"]
_ALL_COLUMNS = _INVOCATION_COLUMNS + _EXTRA_COLUMNS
_UPDATES = ", ".join(f"{c} = EXCLUDED.{c}" for c in _ALL_COLUMNS if c != "id")
_INVOCATION_UPSERT = (
    f"INSERT INTO invocations ({', '.join(_ALL_COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in _ALL_COLUMNS)}) "
    f"ON CONFLICT (id) DO UPDATE SET {_UPDATES}"
)
_INVOCATION_SELECT = f"SELECT {', '.join(_INVOCATION_COLUMNS)} FROM invocations"
_INVOCATION_VALUES = operator.attrgetter(*_INVOCATION_COLUMNS)
_WAITING_COMPLETIONS = _INVOCATION_COLUMNS.index("waiting_completions")
_WAITING_SIGNALS = _INVOCATION_COLUMNS.index("waiting_signals")
_WAITING_NAMED = _INVOCATION_COLUMNS.index("waiting_named_signals")
_RANDOM_SEED = _INVOCATION_COLUMNS.index("random_seed")
_TIMER_COLUMNS = "id, due_at, invocation_id, kind, completion_id, attempt"
_DEPLOYMENT_COLUMNS = (
    "id, uri, use_http_11, protocol_mode, min_protocol_version, max_protocol_version, "
    "additional_headers, sdk_version, created_at, manifest_json"
)
_SERVICE_COLUMNS = "name, deployment_id, revision, ty, public, manifest_json"


def _pk_of_invocation(invocation_id: str) -> int:
    return stored(invocation_partition_key(invocation_id))


def _pk_of_key(key: str) -> int:
    return stored(key_partition_key(key))


def _invocation_from_row(row: Sequence[Any]) -> InvocationRow:
    values = dict(zip(_INVOCATION_COLUMNS, row, strict=True))
    values["waiting_completions"] = tuple(values["waiting_completions"])
    values["waiting_signals"] = tuple(values["waiting_signals"])
    values["waiting_named_signals"] = tuple(values["waiting_named_signals"])
    values["random_seed"] = int(values["random_seed"]) % _U64
    values["status"] = InvocationStatus(values["status"])
    if values["result"] is not None:
        values["result"] = bytes(values["result"])
    return InvocationRow(**values)


def _timer_from_row(row: Sequence[Any]) -> TimerRow:
    id_, due_at, invocation_id, kind, completion_id, attempt = row
    return TimerRow(id_, due_at, invocation_id, TimerKind(kind), completion_id, attempt)


def _deployment_from_row(row: Sequence[Any]) -> DeploymentRow:
    (id_, uri, http11, mode, min_v, max_v, headers, sdk, created, manifest) = row
    return DeploymentRow(
        id=id_,
        uri=uri,
        use_http_11=http11,
        protocol_mode="BIDI_STREAM" if mode == "BIDI_STREAM" else "REQUEST_RESPONSE",
        min_protocol_version=min_v,
        max_protocol_version=max_v,
        additional_headers=json.loads(headers),
        sdk_version=sdk,
        created_at=created,
        manifest_json=manifest,
    )


def _service_from_row(row: Sequence[Any]) -> ServiceRow:
    name, deployment_id, revision, ty, public, manifest = row
    return ServiceRow(name, deployment_id, revision, ty, public, manifest)


def _key_text(state_key: bytes) -> str:
    # PostgreSQL text cannot hold NUL; a NUL byte reads as U+FFFD in the views.
    return introspection.utf8(state_key).replace("\x00", "\ufffd")  # type: ignore[union-attr]


class PostgresTxn(FeatureTables):
    """Implements `perdure.store.api.WriteTxn` on a connection inside a transaction."""

    def __init__(self, conn: psycopg.Connection[Any], rows: RowCache | None = None) -> None:
        self._cur = conn.cursor()
        self._rows = rows

    def _cached(self, key: CacheKey) -> tuple[bool, Cached]:
        return (False, None) if self._rows is None else self._rows.lookup(key)

    def _loaded(self, key: CacheKey, row: Cached) -> None:
        if self._rows is not None:
            self._rows.loaded(key, row)

    def _written(self, key: CacheKey, row: Cached) -> None:
        if self._rows is not None:
            self._rows.written(key, row)

    def _one(self, sql: str, params: Sequence[object]) -> tuple[Any, ...] | None:
        self._cur.execute(sql, params)
        return self._cur.fetchone()

    def _all(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        self._cur.execute(sql, params)
        return self._cur.fetchall()

    def _run(self, sql: str, params: Sequence[object]) -> None:
        self._cur.execute(sql, params)

    # The writer's hooks around each job and before COMMIT (cluster mode uses them).
    def job_done(self, succeeded: bool) -> None:
        pass

    def before_commit(self) -> None:
        pass

    # -- deployments -----------------------------------------------------------

    def put_deployment(self, row: DeploymentRow) -> None:
        self._run(
            f"INSERT INTO deployments ({_DEPLOYMENT_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
            "uri = EXCLUDED.uri, use_http_11 = EXCLUDED.use_http_11, "
            "protocol_mode = EXCLUDED.protocol_mode, "
            "min_protocol_version = EXCLUDED.min_protocol_version, "
            "max_protocol_version = EXCLUDED.max_protocol_version, "
            "additional_headers = EXCLUDED.additional_headers, "
            "sdk_version = EXCLUDED.sdk_version, created_at = EXCLUDED.created_at, "
            "manifest_json = EXCLUDED.manifest_json",
            (
                row.id,
                row.uri,
                row.use_http_11,
                row.protocol_mode,
                row.min_protocol_version,
                row.max_protocol_version,
                json.dumps(row.additional_headers, sort_keys=True),
                row.sdk_version,
                row.created_at,
                row.manifest_json,
            ),
        )
        self._written(("deployments", row.id), row)

    def get_deployment(self, deployment_id: str) -> DeploymentRow | None:
        key = ("deployments", deployment_id)
        hit, cached = self._cached(key)
        if hit:
            assert cached is None or isinstance(cached, DeploymentRow)
            return cached
        found = self._one(
            f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments WHERE id = %s", (deployment_id,)
        )
        row = None if found is None else _deployment_from_row(found)
        self._loaded(key, row)
        return row

    def list_deployments(self) -> list[DeploymentRow]:
        rows = self._all(f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments ORDER BY created_at, id")
        return [_deployment_from_row(r) for r in rows]

    def delete_deployment(self, deployment_id: str) -> None:
        self._run("DELETE FROM deployments WHERE id = %s", (deployment_id,))
        self._written(("deployments", deployment_id), None)

    # -- services --------------------------------------------------------------

    def put_service(self, row: ServiceRow) -> None:
        self._run(
            f"INSERT INTO services ({_SERVICE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET deployment_id = EXCLUDED.deployment_id, "
            "revision = EXCLUDED.revision, ty = EXCLUDED.ty, public = EXCLUDED.public, "
            "manifest_json = EXCLUDED.manifest_json",
            (row.name, row.deployment_id, row.revision, row.ty, row.public, row.manifest_json),
        )
        self._written(("services", row.name), row)

    def get_service(self, name: str) -> ServiceRow | None:
        key = ("services", name)
        hit, cached = self._cached(key)
        if hit:
            assert cached is None or isinstance(cached, ServiceRow)
            return cached
        found = self._one(f"SELECT {_SERVICE_COLUMNS} FROM services WHERE name = %s", (name,))
        row = None if found is None else _service_from_row(found)
        self._loaded(key, row)
        return row

    def list_services(self) -> list[ServiceRow]:
        rows = self._all(f"SELECT {_SERVICE_COLUMNS} FROM services ORDER BY name")
        return [_service_from_row(r) for r in rows]

    def delete_service(self, name: str) -> None:
        self._run("DELETE FROM services WHERE name = %s", (name,))
        self._written(("services", name), None)

    # -- invocations -------------------------------------------------------------

    def put_invocation(self, row: InvocationRow) -> None:
        values: list[object] = list(_INVOCATION_VALUES(row))
        values[_WAITING_COMPLETIONS] = list(row.waiting_completions)
        values[_WAITING_SIGNALS] = list(row.waiting_signals)
        values[_WAITING_NAMED] = list(row.waiting_named_signals)
        # A u64 seed does not fit BIGINT: store it two's complement.
        seed = row.random_seed
        values[_RANDOM_SEED] = seed - _U64 if seed >= 1 << 63 else seed
        values.append(_pk_of_invocation(row.id))
        values.append(introspection.output_result(row.result))
        values.append(introspection.output_failure(row.result))
        self._run(_INVOCATION_UPSERT, values)
        self._written(("invocations", row.id), row)

    def get_invocation(self, invocation_id: str) -> InvocationRow | None:
        key = ("invocations", invocation_id)
        hit, cached = self._cached(key)
        if hit:
            assert cached is None or isinstance(cached, InvocationRow)
            return cached
        found = self._one(f"{_INVOCATION_SELECT} WHERE id = %s", (invocation_id,))
        row = None if found is None else _invocation_from_row(found)
        self._loaded(key, row)
        return row

    def invocations_with_status(self, status: InvocationStatus) -> list[InvocationRow]:
        rows = self._all(
            f"{_INVOCATION_SELECT} WHERE status = %s ORDER BY created_at, id", (str(status),)
        )
        return [_invocation_from_row(r) for r in rows]

    def list_invocations(self, limit: int = 1000) -> list[InvocationRow]:
        rows = self._all(f"{_INVOCATION_SELECT} ORDER BY created_at, id LIMIT %s", (limit,))
        return [_invocation_from_row(r) for r in rows]

    def delete_invocation(self, invocation_id: str) -> None:
        self._run("DELETE FROM invocations WHERE id = %s", (invocation_id,))
        self._written(("invocations", invocation_id), None)

    def expired_completions(self, now: int, limit: int) -> list[InvocationRow]:
        rows = self._all(
            f"{_INVOCATION_SELECT} WHERE status = 'completed' "
            "AND completed_at + completion_retention_ms <= %s ORDER BY completed_at, id LIMIT %s",
            (now, limit),
        )
        return [_invocation_from_row(r) for r in rows]

    def expired_journals(self, now: int, limit: int) -> list[InvocationRow]:
        rows = self._all(
            f"{_INVOCATION_SELECT} WHERE status = 'completed' AND journal_length > 0 "
            "AND completed_at + journal_retention_ms <= %s ORDER BY completed_at, id LIMIT %s",
            (now, limit),
        )
        return [_invocation_from_row(r) for r in rows]

    # -- journal -----------------------------------------------------------------

    def append_entry(self, row: JournalEntryRow) -> None:
        # A plain INSERT: the primary key refuses a second entry at an index (S3).
        self._run(
            "INSERT INTO journal (invocation_id, idx, partition_key, type, payload, appended_at, "
            "completion_id, signal_id, signal_name, entry_name, callee_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                row.invocation_id,
                row.index,
                _pk_of_invocation(row.invocation_id),
                row.type,
                row.payload,
                row.appended_at,
                row.completion_id,
                row.signal_id,
                row.signal_name,
                introspection.entry_name(row.type, row.payload),
                introspection.callee_id(row.type, row.payload),
            ),
        )

    def read_journal(self, invocation_id: str) -> list[JournalEntryRow]:
        rows = self._all(
            "SELECT invocation_id, idx, type, payload, appended_at, completion_id, signal_id, "
            "signal_name FROM journal WHERE invocation_id = %s ORDER BY idx",
            (invocation_id,),
        )
        return [JournalEntryRow(i, x, t, bytes(p), a, c, s, n) for i, x, t, p, a, c, s, n in rows]

    def has_notification(
        self,
        invocation_id: str,
        completion_ids: Sequence[int],
        signal_ids: Sequence[int],
        from_index: int = 0,
        signal_names: Sequence[str] = (),
    ) -> bool:
        if not completion_ids and not signal_ids and not signal_names:
            return False
        found = self._one(
            "SELECT 1 FROM journal WHERE invocation_id = %s AND idx >= %s AND ("
            "(completion_id = ANY(%s::bigint[]) AND type >= 32768) "
            "OR signal_id = ANY(%s::bigint[]) OR signal_name = ANY(%s::text[])) LIMIT 1",
            (
                invocation_id,
                from_index,
                list(completion_ids),
                list(signal_ids),
                list(signal_names),
            ),
        )
        return found is not None

    def has_completion(self, invocation_id: str, completion_id: int, entry_type: int) -> bool:
        found = self._one(
            "SELECT 1 FROM journal WHERE invocation_id = %s AND completion_id = %s "
            "AND type = %s LIMIT 1",
            (invocation_id, completion_id, entry_type),
        )
        return found is not None

    def delete_journal(self, invocation_id: str) -> None:
        self._run("DELETE FROM journal WHERE invocation_id = %s", (invocation_id,))

    # -- state -------------------------------------------------------------------

    def get_state(self, service: str, key: str, state_key: bytes) -> bytes | None:
        found = self._one(
            "SELECT value FROM state WHERE service = %s AND key = %s AND state_key = %s",
            (service, key, state_key),
        )
        return None if found is None else bytes(found[0])

    def all_state(self, service: str, key: str) -> list[tuple[bytes, bytes]]:
        rows = self._all(
            "SELECT state_key, value FROM state WHERE service = %s AND key = %s ORDER BY state_key",
            (service, key),
        )
        return [(bytes(k), bytes(v)) for k, v in rows]

    def set_state(self, service: str, key: str, state_key: bytes, value: bytes) -> None:
        self._run(
            "INSERT INTO state (service, key, state_key, partition_key, value, key_utf8) "
            "VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (service, key, state_key) DO UPDATE SET value = EXCLUDED.value",
            (service, key, state_key, _pk_of_key(key), value, _key_text(state_key)),
        )

    def clear_state(self, service: str, key: str, state_key: bytes) -> None:
        self._run(
            "DELETE FROM state WHERE service = %s AND key = %s AND state_key = %s",
            (service, key, state_key),
        )

    def clear_all_state(self, service: str, key: str) -> None:
        self._run("DELETE FROM state WHERE service = %s AND key = %s", (service, key))

    # -- locks and inbox -------------------------------------------------------------

    def lock_holder(self, service: str, key: str) -> str | None:
        found = self._one(
            "SELECT invocation_id FROM locks WHERE service = %s AND key = %s", (service, key)
        )
        return None if found is None else str(found[0])

    def take_lock(self, service: str, key: str, invocation_id: str) -> None:
        # Plain INSERT: taking a held lock is a bug and must fail loudly (S7).
        self._run(
            "INSERT INTO locks (service, key, partition_key, invocation_id) "
            "VALUES (%s, %s, %s, %s)",
            (service, key, _pk_of_key(key), invocation_id),
        )

    def release_lock(self, service: str, key: str) -> None:
        self._run("DELETE FROM locks WHERE service = %s AND key = %s", (service, key))

    def push_inbox(
        self,
        service: str,
        key: str,
        invocation_id: str | None,
        state_mutation: bytes | None = None,
    ) -> InboxRow:
        # A state mutation has no invocation; the column is unique, so it gets a placeholder.
        placeholder = invocation_id if invocation_id is not None else f"state:{uuid.uuid4().hex}"
        found = self._one(
            "INSERT INTO inbox (service, key, partition_key, invocation_id, state_mutation) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING seq",
            (service, key, _pk_of_key(key), placeholder, state_mutation),
        )
        assert found is not None
        return InboxRow(service, key, int(found[0]), placeholder, state_mutation)

    def pop_inbox(self, service: str, key: str) -> InboxRow | None:
        found = self._one(
            "DELETE FROM inbox WHERE seq = (SELECT seq FROM inbox WHERE service = %s "
            "AND key = %s ORDER BY seq LIMIT 1) RETURNING seq, invocation_id, state_mutation",
            (service, key),
        )
        if found is None:
            return None
        mutation = None if found[2] is None else bytes(found[2])
        return InboxRow(service, key, int(found[0]), str(found[1]), mutation)

    def remove_from_inbox(self, invocation_id: str) -> None:
        self._run("DELETE FROM inbox WHERE invocation_id = %s", (invocation_id,))

    # -- timers ----------------------------------------------------------------------

    def add_timer(self, row: TimerRow) -> TimerRow:
        found = self._one(
            "INSERT INTO timers (partition_key, due_at, invocation_id, kind, completion_id, "
            "attempt) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (
                _pk_of_invocation(row.invocation_id),
                row.due_at,
                row.invocation_id,
                str(row.kind),
                row.completion_id,
                row.attempt,
            ),
        )
        assert found is not None
        return TimerRow(
            int(found[0]), row.due_at, row.invocation_id, row.kind, row.completion_id, row.attempt
        )

    def get_timer(self, timer_id: int) -> TimerRow | None:
        found = self._one(f"SELECT {_TIMER_COLUMNS} FROM timers WHERE id = %s", (timer_id,))
        return None if found is None else _timer_from_row(found)

    def delete_timer(self, timer_id: int) -> None:
        self._run("DELETE FROM timers WHERE id = %s", (timer_id,))

    def delete_timers_of(self, invocation_id: str) -> None:
        self._run("DELETE FROM timers WHERE invocation_id = %s", (invocation_id,))

    def all_timers(self) -> list[TimerRow]:
        rows = self._all(f"SELECT {_TIMER_COLUMNS} FROM timers ORDER BY due_at, id")
        return [_timer_from_row(r) for r in rows]

    # -- waiters -----------------------------------------------------------------------

    def add_waiter(self, row: WaiterRow) -> None:
        self._run(
            "INSERT INTO waiters (invocation_id, caller_id, completion_id, entry_type, "
            "partition_key) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (
                row.invocation_id,
                row.caller_id,
                row.completion_id,
                row.entry_type,
                _pk_of_invocation(row.invocation_id),
            ),
        )

    def take_waiters(self, invocation_id: str) -> list[WaiterRow]:
        rows = self._all(
            "DELETE FROM waiters WHERE invocation_id = %s "
            "RETURNING invocation_id, caller_id, completion_id, entry_type",
            (invocation_id,),
        )
        # Code-point order is byte order (COLLATE "C"), as SQLite's ORDER BY gives.
        return sorted((WaiterRow(*r) for r in rows), key=lambda w: (w.caller_id, w.completion_id))

    # -- promises ------------------------------------------------------------------------

    def get_promise(self, service: str, key: str, name: str) -> bytes | None:
        found = self._one(
            "SELECT result FROM promises WHERE service = %s AND key = %s AND name = %s",
            (service, key, name),
        )
        return None if found is None or found[0] is None else bytes(found[0])

    def complete_promise(self, service: str, key: str, name: str, result: bytes) -> bool:
        # DO NOTHING: the first completion wins, a later one changes nothing (S12).
        found = self._one(
            "INSERT INTO promises (service, key, name, partition_key, result) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
            (service, key, name, _pk_of_key(key), result),
        )
        return found is not None

    def add_promise_listener(
        self, service: str, key: str, name: str, invocation_id: str, completion_id: int
    ) -> None:
        self._run(
            "INSERT INTO promise_listeners (service, key, name, invocation_id, completion_id, "
            "partition_key) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (service, key, name, invocation_id, completion_id, _pk_of_key(key)),
        )

    def take_promise_listeners(self, service: str, key: str, name: str) -> list[tuple[str, int]]:
        rows = self._all(
            "DELETE FROM promise_listeners WHERE service = %s AND key = %s AND name = %s "
            "RETURNING invocation_id, completion_id",
            (service, key, name),
        )
        return sorted((str(i), int(c)) for i, c in rows)

    def clear_promises(self, service: str, key: str) -> None:
        for table in ("promises", "promise_listeners"):
            self._run(f"DELETE FROM {table} WHERE service = %s AND key = %s", (service, key))
