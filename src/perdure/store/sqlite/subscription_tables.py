"""SQL of the Kafka subscription tables (`perdure.store.api.SubscriptionTable`), mixed into
`SqliteTxn`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from perdure.store.api import SubscriptionRow

_SELECT = "SELECT id, source, sink, options, created_at FROM subscriptions"


def _row(found: Sequence[Any]) -> SubscriptionRow:
    sub_id, source, sink, options, created_at = found
    return SubscriptionRow(sub_id, source, sink, json.loads(options), int(created_at))


class SubscriptionTables:
    _conn: sqlite3.Connection

    def put_subscription(self, row: SubscriptionRow) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO subscriptions VALUES (?, ?, ?, ?, ?)",
            (row.id, row.source, row.sink, json.dumps(row.options, sort_keys=True), row.created_at),
        )

    def get_subscription(self, subscription_id: str) -> SubscriptionRow | None:
        found = self._conn.execute(f"{_SELECT} WHERE id = ?", (subscription_id,)).fetchone()
        return None if found is None else _row(found)

    def list_subscriptions(self) -> list[SubscriptionRow]:
        return [_row(r) for r in self._conn.execute(f"{_SELECT} ORDER BY created_at, id")]

    def delete_subscription(self, subscription_id: str) -> None:
        self._conn.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))
        self._conn.execute(
            "DELETE FROM subscription_offsets WHERE subscription_id = ?", (subscription_id,)
        )

    def subscription_offsets(self, subscription_id: str) -> dict[int, tuple[int, int]]:
        rows = self._conn.execute(
            "SELECT partition, next_offset, high_watermark FROM subscription_offsets "
            "WHERE subscription_id = ?",
            (subscription_id,),
        )
        return {int(p): (int(n), int(h)) for p, n, h in rows}

    def put_subscription_offset(
        self, subscription_id: str, partition: int, next_offset: int, high_watermark: int
    ) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO subscription_offsets VALUES (?, ?, ?, ?)",
            (subscription_id, partition, next_offset, high_watermark),
        )
