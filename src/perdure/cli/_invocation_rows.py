"""What the invocation commands share about `sys_invocation`: its statuses, SQL literals,
the WHERE conditions of the usual filters, and how a row's status reads."""

from __future__ import annotations

from typing import Any

# `status` of sys_invocation, as restate derives it (reference surfaces §2.4).
STATUSES = (
    "pending",
    "scheduled",
    "ready",
    "running",
    "backing-off",
    "suspended",
    "paused",
    "completed",
)


def sql_literal(value: str) -> str:
    """`value` as an SQL string literal (quotes doubled), safe to splice into a query."""
    return "'" + value.replace("'", "''") + "'"


def filter_conditions(
    statuses: tuple[str, ...],
    service: str | None,
    key: str | None = None,
    handler: str | None = None,
) -> list[str]:
    """The WHERE conditions (to AND together) of the status/service/key/handler filters."""
    conditions: list[str] = []
    if statuses:
        conditions.append(f"status IN ({', '.join(sql_literal(s) for s in statuses)})")
    if service is not None:
        conditions.append(f"target_service_name = {sql_literal(service)}")
    if key is not None:
        conditions.append(f"target_service_key = {sql_literal(key)}")
    if handler is not None:
        conditions.append(f"target_handler_name = {sql_literal(handler)}")
    return conditions


def status_text(row: dict[str, Any]) -> str:
    status = str(row.get("status", ""))
    if status == "completed" and row.get("completion_result"):
        return f"completed ({row['completion_result']})"
    if status == "backing-off" and row.get("retry_count"):
        return f"backing-off (retry {row['retry_count']})"
    return status
