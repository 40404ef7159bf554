"""SQL of the `schedules` table (`perdure.store.api.ScheduleTable`), mixed into `SqliteTxn`."""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Sequence
from dataclasses import fields

from perdure.store.api import ScheduleRow
from perdure.store.rowcache import SCHEDULES_BUFFERING, RowCache

_COLUMNS = [f.name for f in fields(ScheduleRow)]
_VALUES = operator.attrgetter(*_COLUMNS)
_INSERT = (
    f"INSERT OR REPLACE INTO schedules ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM schedules"
_PAUSED = _COLUMNS.index("paused")


def _schedule_from_row(row: Sequence[object]) -> ScheduleRow:
    values = list(row)
    values[_PAUSED] = bool(values[_PAUSED])
    return ScheduleRow(*values)  # type: ignore[arg-type]


class ScheduleTables:
    _conn: sqlite3.Connection
    _rows: RowCache | None  # the writer's: knows whether any schedule holds a buffered tick

    def put_schedule(self, row: ScheduleRow) -> None:
        self._conn.execute(_INSERT, _VALUES(row))
        self._buffering_changed()

    def get_schedule(self, name: str) -> ScheduleRow | None:
        found = self._conn.execute(f"{_SELECT} WHERE name = ?", (name,)).fetchone()
        return None if found is None else _schedule_from_row(found)

    def list_schedules(self) -> list[ScheduleRow]:
        return [_schedule_from_row(r) for r in self._conn.execute(f"{_SELECT} ORDER BY name")]

    def delete_schedule(self, name: str) -> None:
        self._conn.execute("DELETE FROM schedules WHERE name = ?", (name,))
        self._buffering_changed()

    def _any_buffering(self) -> bool:
        found = self._conn.execute(
            "SELECT 1 FROM schedules WHERE buffered_tick IS NOT NULL LIMIT 1"
        ).fetchone()
        return found is not None

    def _buffering_changed(self) -> None:
        if self._rows is not None:
            self._rows.written(SCHEDULES_BUFFERING, self._any_buffering())

    def buffered_schedule_of(self, invocation_id: str) -> ScheduleRow | None:
        # Asked at the end of every invocation: the writer knows whether any tick is held.
        if self._rows is not None:
            hit, buffering = self._rows.lookup(SCHEDULES_BUFFERING)
            if not hit:
                buffering = self._any_buffering()
                self._rows.loaded(SCHEDULES_BUFFERING, buffering)
            if not buffering:
                return None
        found = self._conn.execute(
            f"{_SELECT} WHERE last_invocation_id = ? AND buffered_tick IS NOT NULL LIMIT 1",
            (invocation_id,),
        ).fetchone()
        return None if found is None else _schedule_from_row(found)
