"""SQL for every table of `perdure.store.api`, on one sqlite3 connection.

`SqliteTxn` only issues statements; the transaction around them is opened and committed
by the worker in `store.py`.
"""

from __future__ import annotations

import functools
import json
import operator
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import fields

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
from perdure.store.rowcache import RowCache
from perdure.store.sqlite.limit_tables import LimitTables
from perdure.store.sqlite.schedule_tables import ScheduleTables
from perdure.store.sqlite.subscription_tables import SubscriptionTables

_INVOCATION_COLUMNS = [f.name for f in fields(InvocationRow)]
_INVOCATION_VALUES = operator.attrgetter(*_INVOCATION_COLUMNS)
_INDEX = {name: i for i, name in enumerate(_INVOCATION_COLUMNS)}
_WAITING_COMPLETIONS = _INDEX["waiting_completions"]
_WAITING_SIGNALS = _INDEX["waiting_signals"]
_WAITING_NAMED = _INDEX["waiting_named_signals"]
_RANDOM_SEED = _INDEX["random_seed"]
_STATUS = _INDEX["status"]
# Columns stored in another form than the row's value (see `_invocation_values`).
_ENCODED = frozenset({_WAITING_COMPLETIONS, _WAITING_SIGNALS, _WAITING_NAMED, _RANDOM_SEED})
_INVOCATION_INSERT = (
    f"INSERT OR REPLACE INTO invocations ({', '.join(_INVOCATION_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _INVOCATION_COLUMNS)})"
)
_INVOCATION_SELECT = f"SELECT {', '.join(_INVOCATION_COLUMNS)} FROM invocations"


def _ids_to_text(ids: tuple[int, ...]) -> str:
    return ",".join(str(i) for i in ids)


def _ids_from_text(text: str) -> tuple[int, ...]:
    return tuple(int(i) for i in text.split(",")) if text else ()


def _invocation_values(row: InvocationRow) -> list[object]:
    values = list(_INVOCATION_VALUES(row))
    values[_WAITING_COMPLETIONS] = _ids_to_text(row.waiting_completions)
    values[_WAITING_SIGNALS] = _ids_to_text(row.waiting_signals)
    values[_WAITING_NAMED] = json.dumps(list(row.waiting_named_signals))
    # A u64 seed does not fit SQLite's signed 64-bit INTEGER: store it two's complement.
    seed = row.random_seed
    values[_RANDOM_SEED] = seed - (1 << 64) if seed >= 1 << 63 else seed
    return values


@functools.lru_cache(maxsize=1024)  # a few dozen sets of changed columns occur
def _update_sql(changed: tuple[int, ...]) -> str:
    sets = ", ".join(f"{_INVOCATION_COLUMNS[i]} = ?" for i in changed)
    return f"UPDATE invocations SET {sets} WHERE id = ?"


def _invocation_from_row(row: Sequence[object]) -> InvocationRow:
    values = list(row)
    values[_WAITING_COMPLETIONS] = _ids_from_text(str(values[_WAITING_COMPLETIONS]))
    values[_WAITING_SIGNALS] = _ids_from_text(str(values[_WAITING_SIGNALS]))
    values[_WAITING_NAMED] = tuple(json.loads(str(values[_WAITING_NAMED])))
    values[_RANDOM_SEED] = int(values[_RANDOM_SEED]) % (1 << 64)  # type: ignore[call-overload]
    values[_STATUS] = InvocationStatus(str(values[_STATUS]))
    return InvocationRow(*values)  # type: ignore[arg-type]


def _timer_from_row(row: Sequence[object]) -> TimerRow:
    id_, due_at, invocation_id, kind, completion_id, attempt = row
    return TimerRow(
        int(id_),  # type: ignore[call-overload]
        int(due_at),  # type: ignore[call-overload]
        str(invocation_id),
        TimerKind(str(kind)),
        None if completion_id is None else int(completion_id),  # type: ignore[call-overload]
        None if attempt is None else int(attempt),  # type: ignore[call-overload]
    )


def _deployment_from_row(row: Sequence[object]) -> DeploymentRow:
    (id_, uri, http11, mode, min_v, max_v, headers, sdk, created, manifest) = row
    return DeploymentRow(
        id=str(id_),
        uri=str(uri),
        use_http_11=bool(http11),
        protocol_mode="BIDI_STREAM" if mode == "BIDI_STREAM" else "REQUEST_RESPONSE",
        min_protocol_version=int(min_v),  # type: ignore[call-overload]
        max_protocol_version=int(max_v),  # type: ignore[call-overload]
        additional_headers=json.loads(str(headers)),
        sdk_version=None if sdk is None else str(sdk),
        created_at=int(created),  # type: ignore[call-overload]
        manifest_json=str(manifest),
    )


def _service_from_row(row: Sequence[object]) -> ServiceRow:
    name, deployment_id, revision, ty, public, manifest = row
    return ServiceRow(
        name=str(name),
        deployment_id=str(deployment_id),
        revision=int(revision),  # type: ignore[call-overload]
        ty=ty,  # type: ignore[arg-type]  # written from a validated manifest
        public=bool(public),
        manifest_json=str(manifest),
    )


class SqliteTxn(ScheduleTables, LimitTables, SubscriptionTables):
    """Implements `perdure.store.api.WriteTxn` on a connection inside a transaction; the
    writer's transactions go through its `RowCache` for invocation rows."""

    def __init__(self, conn: sqlite3.Connection, rows: RowCache | None = None) -> None:
        self._conn = conn
        self._rows = rows

    # -- deployments -----------------------------------------------------------

    def put_deployment(self, row: DeploymentRow) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.id,
                row.uri,
                int(row.use_http_11),
                row.protocol_mode,
                row.min_protocol_version,
                row.max_protocol_version,
                json.dumps(row.additional_headers, sort_keys=True),
                row.sdk_version,
                row.created_at,
                row.manifest_json,
            ),
        )
        if self._rows is not None:
            self._rows.written(("deployments", row.id), row)

    def get_deployment(self, deployment_id: str) -> DeploymentRow | None:
        key = ("deployments", deployment_id)
        if self._rows is not None:
            hit, cached = self._rows.lookup(key)
            if hit:
                assert cached is None or isinstance(cached, DeploymentRow)
                return cached
        found = self._conn.execute(
            "SELECT * FROM deployments WHERE id = ?", (deployment_id,)
        ).fetchone()
        row = None if found is None else _deployment_from_row(found)
        if self._rows is not None:
            self._rows.loaded(key, row)
        return row

    def list_deployments(self) -> list[DeploymentRow]:
        rows = self._conn.execute("SELECT * FROM deployments ORDER BY created_at, id")
        return [_deployment_from_row(r) for r in rows]

    def delete_deployment(self, deployment_id: str) -> None:
        self._conn.execute("DELETE FROM deployments WHERE id = ?", (deployment_id,))
        if self._rows is not None:
            self._rows.written(("deployments", deployment_id), None)

    # -- services --------------------------------------------------------------

    def put_service(self, row: ServiceRow) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO services VALUES (?, ?, ?, ?, ?, ?)",
            (row.name, row.deployment_id, row.revision, row.ty, int(row.public), row.manifest_json),
        )
        if self._rows is not None:
            self._rows.written(("services", row.name), row)

    def get_service(self, name: str) -> ServiceRow | None:
        key = ("services", name)
        if self._rows is not None:
            hit, cached = self._rows.lookup(key)
            if hit:
                assert cached is None or isinstance(cached, ServiceRow)
                return cached
        found = self._conn.execute("SELECT * FROM services WHERE name = ?", (name,)).fetchone()
        row = None if found is None else _service_from_row(found)
        if self._rows is not None:
            self._rows.loaded(key, row)
        return row

    def list_services(self) -> list[ServiceRow]:
        return [
            _service_from_row(r) for r in self._conn.execute("SELECT * FROM services ORDER BY name")
        ]

    def delete_service(self, name: str) -> None:
        self._conn.execute("DELETE FROM services WHERE name = ?", (name,))
        if self._rows is not None:
            self._rows.written(("services", name), None)

    # -- invocations -------------------------------------------------------------

    def put_invocation(self, row: InvocationRow) -> None:
        key = ("invocations", row.id)
        before = None if self._rows is None else self._rows.lookup(key)[1]
        if isinstance(before, InvocationRow):
            # The row as the database holds it: write only the columns that changed (a
            # command changes a few; rewriting all of them and both indexes cost ~8x more).
            self._update_invocation(before, row)
        else:
            self._conn.execute(_INVOCATION_INSERT, _invocation_values(row))
        if self._rows is not None:
            self._rows.written(key, row)

    def _update_invocation(self, before: InvocationRow, row: InvocationRow) -> None:
        old, new = _INVOCATION_VALUES(before), _INVOCATION_VALUES(row)
        changed = tuple(i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b)
        if not changed:
            return
        if _ENCODED.isdisjoint(changed):
            values = [new[i] for i in changed]
        else:
            encoded = _invocation_values(row)
            values = [encoded[i] for i in changed]
        self._conn.execute(_update_sql(changed), [*values, row.id])

    def get_invocation(self, invocation_id: str) -> InvocationRow | None:
        key = ("invocations", invocation_id)
        if self._rows is not None:
            hit, cached = self._rows.lookup(key)
            if hit:
                assert cached is None or isinstance(cached, InvocationRow)
                return cached
        found = self._conn.execute(
            f"{_INVOCATION_SELECT} WHERE id = ?", (invocation_id,)
        ).fetchone()
        row = None if found is None else _invocation_from_row(found)
        if self._rows is not None:
            self._rows.loaded(key, row)
        return row

    def invocations_with_status(self, status: InvocationStatus) -> list[InvocationRow]:
        rows = self._conn.execute(
            f"{_INVOCATION_SELECT} WHERE status = ? ORDER BY created_at", (status,)
        )
        return [_invocation_from_row(r) for r in rows]

    def list_invocations(self, limit: int = 1000) -> list[InvocationRow]:
        rows = self._conn.execute(f"{_INVOCATION_SELECT} ORDER BY created_at LIMIT ?", (limit,))
        return [_invocation_from_row(r) for r in rows]

    def delete_invocation(self, invocation_id: str) -> None:
        self._conn.execute("DELETE FROM invocations WHERE id = ?", (invocation_id,))
        if self._rows is not None:
            self._rows.written(("invocations", invocation_id), None)

    def expired_completions(self, now: int, limit: int) -> list[InvocationRow]:
        rows = self._conn.execute(
            f"{_INVOCATION_SELECT} WHERE status = 'completed' "
            "AND completed_at + completion_retention_ms <= ? ORDER BY completed_at LIMIT ?",
            (now, limit),
        )
        return [_invocation_from_row(r) for r in rows]

    def expired_journals(self, now: int, limit: int) -> list[InvocationRow]:
        rows = self._conn.execute(
            f"{_INVOCATION_SELECT} WHERE status = 'completed' AND journal_length > 0 "
            "AND completed_at + journal_retention_ms <= ? ORDER BY completed_at LIMIT ?",
            (now, limit),
        )
        return [_invocation_from_row(r) for r in rows]

    # -- journal -----------------------------------------------------------------

    def append_entry(self, row: JournalEntryRow) -> None:
        # A plain INSERT: the primary key refuses a second entry at an index (S3).
        self._conn.execute(
            "INSERT INTO journal (invocation_id, idx, type, payload, appended_at, "
            "completion_id, signal_id, signal_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.invocation_id,
                row.index,
                row.type,
                row.payload,
                row.appended_at,
                row.completion_id,
                row.signal_id,
                row.signal_name,
            ),
        )

    def read_journal(self, invocation_id: str) -> list[JournalEntryRow]:
        rows = self._conn.execute(
            "SELECT invocation_id, idx, type, payload, appended_at, completion_id, signal_id, "
            "signal_name FROM journal WHERE invocation_id = ? ORDER BY idx",
            (invocation_id,),
        )
        return [JournalEntryRow(*r) for r in rows]

    def has_notification(
        self,
        invocation_id: str,
        completion_ids: Sequence[int],
        signal_ids: Sequence[int],
        from_index: int = 0,
        signal_names: Sequence[str] = (),
    ) -> bool:
        if completion_ids:
            marks = ", ".join("?" for _ in completion_ids)
            found = self._conn.execute(
                f"SELECT 1 FROM journal WHERE invocation_id = ? AND completion_id IN ({marks}) "
                "AND type >= 32768 AND idx >= ? LIMIT 1",
                (invocation_id, *completion_ids, from_index),
            ).fetchone()
            if found:
                return True
        if signal_ids:
            marks = ", ".join("?" for _ in signal_ids)
            found = self._conn.execute(
                f"SELECT 1 FROM journal WHERE invocation_id = ? AND signal_id IN ({marks}) "
                "AND idx >= ? LIMIT 1",
                (invocation_id, *signal_ids, from_index),
            ).fetchone()
            if found:
                return True
        if signal_names:
            marks = ", ".join("?" for _ in signal_names)
            found = self._conn.execute(
                f"SELECT 1 FROM journal WHERE invocation_id = ? AND signal_name IN ({marks}) "
                "AND idx >= ? LIMIT 1",
                (invocation_id, *signal_names, from_index),
            ).fetchone()
            if found:
                return True
        return False

    def has_completion(self, invocation_id: str, completion_id: int, entry_type: int) -> bool:
        found = self._conn.execute(
            "SELECT 1 FROM journal WHERE invocation_id = ? AND completion_id = ? AND type = ?",
            (invocation_id, completion_id, entry_type),
        ).fetchone()
        return found is not None

    def delete_journal(self, invocation_id: str) -> None:
        self._conn.execute("DELETE FROM journal WHERE invocation_id = ?", (invocation_id,))

    # -- state -------------------------------------------------------------------

    def get_state(self, service: str, key: str, state_key: bytes) -> bytes | None:
        found = self._conn.execute(
            "SELECT value FROM state WHERE service = ? AND key = ? AND state_key = ?",
            (service, key, state_key),
        ).fetchone()
        return None if found is None else bytes(found[0])

    def all_state(self, service: str, key: str) -> list[tuple[bytes, bytes]]:
        rows = self._conn.execute(
            "SELECT state_key, value FROM state WHERE service = ? AND key = ? ORDER BY state_key",
            (service, key),
        )
        return [(bytes(k), bytes(v)) for k, v in rows]

    def set_state(self, service: str, key: str, state_key: bytes, value: bytes) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?)", (service, key, state_key, value)
        )

    def clear_state(self, service: str, key: str, state_key: bytes) -> None:
        self._conn.execute(
            "DELETE FROM state WHERE service = ? AND key = ? AND state_key = ?",
            (service, key, state_key),
        )

    def clear_all_state(self, service: str, key: str) -> None:
        self._conn.execute("DELETE FROM state WHERE service = ? AND key = ?", (service, key))

    # -- locks and inbox -------------------------------------------------------------

    def lock_holder(self, service: str, key: str) -> str | None:
        found = self._conn.execute(
            "SELECT invocation_id FROM locks WHERE service = ? AND key = ?", (service, key)
        ).fetchone()
        return None if found is None else str(found[0])

    def take_lock(self, service: str, key: str, invocation_id: str) -> None:
        # Plain INSERT: taking a held lock is a bug and must fail loudly (S7).
        self._conn.execute("INSERT INTO locks VALUES (?, ?, ?)", (service, key, invocation_id))

    def release_lock(self, service: str, key: str) -> None:
        self._conn.execute("DELETE FROM locks WHERE service = ? AND key = ?", (service, key))

    def push_inbox(
        self,
        service: str,
        key: str,
        invocation_id: str | None,
        state_mutation: bytes | None = None,
    ) -> InboxRow:
        # A state mutation has no invocation; the column is unique, so it gets a placeholder.
        placeholder = invocation_id if invocation_id is not None else f"state:{uuid.uuid4().hex}"
        cursor = self._conn.execute(
            "INSERT INTO inbox (service, key, invocation_id, state_mutation) VALUES (?, ?, ?, ?)",
            (service, key, placeholder, state_mutation),
        )
        assert cursor.lastrowid is not None
        return InboxRow(service, key, cursor.lastrowid, placeholder, state_mutation)

    def pop_inbox(self, service: str, key: str) -> InboxRow | None:
        found = self._conn.execute(
            "SELECT seq, invocation_id, state_mutation FROM inbox WHERE service = ? AND key = ? "
            "ORDER BY seq LIMIT 1",
            (service, key),
        ).fetchone()
        if found is None:
            return None
        self._conn.execute("DELETE FROM inbox WHERE seq = ?", (found[0],))
        mutation = None if found[2] is None else bytes(found[2])
        return InboxRow(service, key, int(found[0]), str(found[1]), mutation)

    def remove_from_inbox(self, invocation_id: str) -> None:
        self._conn.execute("DELETE FROM inbox WHERE invocation_id = ?", (invocation_id,))

    # -- timers ----------------------------------------------------------------------

    def add_timer(self, row: TimerRow) -> TimerRow:
        cursor = self._conn.execute(
            "INSERT INTO timers (due_at, invocation_id, kind, completion_id, attempt) "
            "VALUES (?, ?, ?, ?, ?)",
            (row.due_at, row.invocation_id, row.kind, row.completion_id, row.attempt),
        )
        return TimerRow(
            cursor.lastrowid,
            row.due_at,
            row.invocation_id,
            row.kind,
            row.completion_id,
            row.attempt,
        )

    def get_timer(self, timer_id: int) -> TimerRow | None:
        found = self._conn.execute(
            "SELECT id, due_at, invocation_id, kind, completion_id, attempt FROM timers "
            "WHERE id = ?",
            (timer_id,),
        ).fetchone()
        return None if found is None else _timer_from_row(found)

    def delete_timer(self, timer_id: int) -> None:
        self._conn.execute("DELETE FROM timers WHERE id = ?", (timer_id,))

    def delete_timers_of(self, invocation_id: str) -> None:
        self._conn.execute("DELETE FROM timers WHERE invocation_id = ?", (invocation_id,))

    def all_timers(self) -> list[TimerRow]:
        rows = self._conn.execute(
            "SELECT id, due_at, invocation_id, kind, completion_id, attempt FROM timers "
            "ORDER BY due_at, id"
        )
        return [_timer_from_row(r) for r in rows]

    # -- waiters -----------------------------------------------------------------------

    def add_waiter(self, row: WaiterRow) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO waiters (invocation_id, caller_id, completion_id, entry_type) "
            "VALUES (?, ?, ?, ?)",
            (row.invocation_id, row.caller_id, row.completion_id, row.entry_type),
        )

    def take_waiters(self, invocation_id: str) -> list[WaiterRow]:
        rows = self._conn.execute(
            "SELECT invocation_id, caller_id, completion_id, entry_type FROM waiters "
            "WHERE invocation_id = ? ORDER BY caller_id, completion_id",
            (invocation_id,),
        ).fetchall()
        if rows:
            self._conn.execute("DELETE FROM waiters WHERE invocation_id = ?", (invocation_id,))
        return [WaiterRow(*r) for r in rows]

    # -- promises ------------------------------------------------------------------------

    def get_promise(self, service: str, key: str, name: str) -> bytes | None:
        found = self._conn.execute(
            "SELECT result FROM promises WHERE service = ? AND key = ? AND name = ?",
            (service, key, name),
        ).fetchone()
        return None if found is None or found[0] is None else bytes(found[0])

    def complete_promise(self, service: str, key: str, name: str, result: bytes) -> bool:
        # INSERT OR IGNORE: the first completion wins, a later one changes nothing (S12).
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO promises VALUES (?, ?, ?, ?)", (service, key, name, result)
        )
        return cursor.rowcount == 1

    def add_promise_listener(
        self, service: str, key: str, name: str, invocation_id: str, completion_id: int
    ) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO promise_listeners VALUES (?, ?, ?, ?, ?)",
            (service, key, name, invocation_id, completion_id),
        )

    def take_promise_listeners(self, service: str, key: str, name: str) -> list[tuple[str, int]]:
        where = "WHERE service = ? AND key = ? AND name = ?"
        rows = self._conn.execute(
            f"SELECT invocation_id, completion_id FROM promise_listeners {where} "
            "ORDER BY invocation_id, completion_id",
            (service, key, name),
        ).fetchall()
        self._conn.execute(f"DELETE FROM promise_listeners {where}", (service, key, name))
        return [(str(i), int(c)) for i, c in rows]

    def clear_promises(self, service: str, key: str) -> None:
        for table in ("promises", "promise_listeners"):
            self._conn.execute(f"DELETE FROM {table} WHERE service = ? AND key = ?", (service, key))
