"""Restate's SQL catalog: the tables `POST /query` answers, with restate-server 1.7.12's
column names and Arrow types (read from its `information_schema.columns`), so that a tool
written for Restate sees the same schema on perdure (`SELECT *`, capability probes, the
types of counts and timestamps).

Each table is filled from the store's view of the same name (`Store.query`), when the store
has one; columns the view lacks are NULL, and a table no view backs (vqueues, user
limits, journal events) is empty. `sys_rules` is filled from the Restate-style pattern
rules; perdure's own tables (schedules, limits, subscriptions) sit beside restate's.
`sys_invocation_status` and `sys_invocation_state` are not stored: they are projections
of `sys_invocation` (`DERIVED`), restate's own relation turned around (restate derives
`sys_invocation` from them).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

_TYPES: dict[str, pa.DataType] = {
    "text": pa.large_utf8(),
    "u64": pa.uint64(),
    "i64": pa.int64(),
    "u32": pa.uint32(),
    "blob": pa.large_binary(),
    "bool": pa.bool_(),
    "time": pa.timestamp("ms", tz="+00:00"),
    "duration": pa.duration("ms"),
    "text[]": pa.list_(pa.large_utf8()),
    "u32[]": pa.list_(pa.uint32()),
}

# `name:type`, `!` for NOT NULL; in restate's column order.
_COLUMNS: dict[str, str] = {
    "state": (
        "partition_key:u64 scope:text service_name:text service_key:text key:text "
        "key_length:u64 value_utf8:text value:blob value_length:u64"
    ),
    "sys_deployment": (
        "id:text ty:text endpoint:text created_at:time min_service_protocol_version:u32 "
        "max_service_protocol_version:u32 services:text[]"
    ),
    "sys_inbox": (
        "partition_key:u64 service_name:text service_key:text id:text sequence_number:u64 "
        "created_at:time"
    ),
    "sys_invocation": (
        "id:text vqueue_id:text target:text target_service_name:text target_service_key:text "
        "target_handler_name:text target_service_ty:text scope:text limit_key:text "
        "idempotency_key:text invoked_by:text invoked_by_service_name:text invoked_by_id:text "
        "invoked_by_subscription_id:text invoked_by_target:text restarted_from:text "
        "pinned_deployment_id:text pinned_service_protocol_version:u32 trace_id:text "
        "journal_size:u32 journal_commands_size:u32 created_at:time "
        "created_using_restate_version:text modified_at:time inboxed_at:time "
        "scheduled_at:time scheduled_start_at:time running_at:time completed_at:time "
        "completion_retention:duration journal_retention:duration "
        "suspended_waiting_for_completions:u32[] suspended_waiting_for_signals:u32[] "
        "suspended_waiting_future_json:text retry_count:u64 last_start_at:time "
        "next_retry_at:time last_attempt_deployment_id:text last_attempt_server:text "
        "last_failure:text last_failure_error_code:text last_failure_related_entry_index:u64 "
        "last_failure_related_entry_name:text last_failure_related_entry_type:text "
        "last_failure_related_command_index:u64 last_failure_related_command_name:text "
        "last_failure_related_command_type:text last_awaiting_on_future_json:text "
        "status:text! completion_result:text completion_failure:text"
    ),
    "sys_invocation_state": (
        "partition_key:u64 id:text in_flight:bool retry_count:u64 last_start_at:time "
        "last_attempt_deployment_id:text last_attempt_server:text next_retry_at:time "
        "last_failure:text last_failure_error_code:text "
        "last_failure_related_command_index:u64 last_failure_related_command_name:text "
        "last_failure_related_command_type:text last_failure_related_entry_index:u64 "
        "last_failure_related_entry_name:text last_failure_related_entry_type:text "
        "last_awaiting_on_future_json:text"
    ),
    "sys_invocation_status": (
        "partition_key:u64 id:text vqueue_id:text status:text completion_result:text "
        "completion_failure:text target:text target_service_name:text target_service_key:text "
        "target_handler_name:text target_service_ty:text scope:text limit_key:text "
        "idempotency_key:text invoked_by:text invoked_by_id:text "
        "invoked_by_subscription_id:text invoked_by_service_name:text invoked_by_target:text "
        "restarted_from:text pinned_deployment_id:text pinned_service_protocol_version:u32 "
        "trace_id:text journal_size:u32 journal_commands_size:u32 created_at:time "
        "created_using_restate_version:text modified_at:time inboxed_at:time "
        "scheduled_at:time scheduled_start_at:time running_at:time completed_at:time "
        "completion_retention:duration journal_retention:duration "
        "suspended_waiting_for_completions:u32[] suspended_waiting_for_signals:u32[] "
        "suspended_waiting_future_json:text"
    ),
    "sys_journal": (
        "partition_key:u64 id:text index:u32 entry_type:text name:text completed:bool "
        "invoked_id:text invoked_target:text sleep_wakeup_at:time promise_name:text raw:blob "
        "raw_length:u64 version:u32 entry_json:text entry_lite_json:text appended_at:time"
    ),
    "sys_journal_events": (
        "partition_key:u64 id:text after_journal_entry_index:u32 appended_at:time "
        "event_type:text event_json:text"
    ),
    "sys_keyed_service_status": (
        "partition_key:u64 service_name:text service_key:text invocation_id:text"
    ),
    "sys_locks": ("partition_key:u64 scope:text lock_name:text acquired_at:time acquired_by:text"),
    "sys_promise": (
        "partition_key:u64 scope:text service_name:text service_key:text key:text "
        "completed:bool completion_success_value:blob completion_success_value_utf8:text "
        "completion_failure:text"
    ),
    "sys_rules": (
        "pattern:text concurrency:u32 description:text disabled:bool version:u32 last_modified:time"
    ),
    "sys_scheduler": (
        "partition_key:u64 id:text num_inbox:u64 status:text head_entry_id:text "
        "scheduled_at:time blocked_on:text blocked_on_json:text "
        "invoker_concurrency_block_duration:duration throttling_rules_block_duration:duration "
        "invoker_throttling_block_duration:duration invoker_memory_block_duration:duration "
        "concurrency_rules_block_duration:duration lock_block_duration:duration "
        "deployment_concurrency_block_duration:duration"
    ),
    "sys_service": ("name:text revision:u64 public:bool ty:text deployment_id:text"),
    "sys_user_limits": (
        "partition_key:u64 scope:text l1:text l2:text level:text usage:u32 "
        "concurrency_limit:u32 rule_pattern:text available:u32 num_waiters:u64"
    ),
    "sys_vqueue_entry_status": (
        "partition_key:u64 entry_id:text vqueue_id:text stage:text status:text has_lock:bool "
        "next_at:time sequence_number:u64 entry_kind:text created_at:time "
        "transitioned_at:time num_attempts:u32 num_errors:u32 num_pauses:u32 "
        "num_suspensions:u32 num_yields:u32 first_attempt_at:time latest_attempt_at:time "
        "first_runnable_at:time deployment:text needed_memory:u64 retry_attempts:u32 "
        "retry_count_since_last_stored_command:u32 "
        "latest_attempt_blocked_on_invoker_concurrency:duration "
        "latest_attempt_blocked_on_throttling_rules:duration "
        "latest_attempt_blocked_on_invoker_throttling:duration "
        "latest_attempt_blocked_on_invoker_memory:duration "
        "latest_attempt_blocked_on_concurrency_rules:duration "
        "latest_attempt_blocked_on_lock:duration "
        "latest_attempt_blocked_on_deployment_concurrency:duration "
        "total_blocked_on_invoker_concurrency:duration "
        "total_blocked_on_throttling_rules:duration "
        "total_blocked_on_invoker_throttling:duration "
        "total_blocked_on_invoker_memory:duration total_blocked_on_concurrency_rules:duration "
        "total_blocked_on_lock:duration total_blocked_on_deployment_concurrency:duration"
    ),
    "sys_vqueue_meta": (
        "partition_key:u64 id:text is_active:bool queue_is_paused:bool service_name:text "
        "scope:text limit_key:text lock_name:text created_at:time last_enqueued_at:time "
        "last_start_at:time last_attempt_at:time last_finish_at:time "
        "avg_queue_duration:duration avg_inbox_duration:duration avg_run_duration:duration "
        "avg_suspension_duration:duration avg_end_to_end_duration:duration "
        "avg_blocked_on_concurrency_rules:duration "
        "avg_blocked_on_invoker_concurrency:duration "
        "avg_blocked_on_invoker_throttling:duration avg_blocked_on_lock:duration "
        "num_inbox:u64 num_running:u64 num_suspended:u64 num_paused:u64 num_finished:u64"
    ),
    "sys_vqueues": (
        "partition_key:u64 id:text stage:text status:text has_lock:bool run_at:time "
        "sequence_number:u64 entry_id:text entry_kind:text created_at:time "
        "transitioned_at:time num_attempts:u32 num_errors:u32 num_pauses:u32 "
        "num_suspensions:u32 num_yields:u32 first_attempt_at:time latest_attempt_at:time "
        "first_runnable_at:time deployment:text"
    ),
}


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    schema: pa.Schema
    # The store view it is read from; None: always empty here (or DERIVED).
    view: str | None


def _schema(spec: str) -> pa.Schema:
    fields = []
    for item in spec.split():
        name, kind = item.split(":")
        required = kind.endswith("!")
        fields.append(pa.field(name, _TYPES[kind.rstrip("!")], nullable=not required))
    return pa.schema(fields)


# perdure's own features (no restate-server counterpart), from the views of the same name.
_COLUMNS.update(
    {
        "sys_schedule": (
            "name:text cron:text timezone:text target:text target_service_name:text "
            "target_service_key:text target_handler_name:text overlap:text catch_up:text "
            "source:text paused:bool next_fire_at:time last_fire_at:time "
            "last_invocation_id:text last_invocation_status:text buffered_tick:time "
            "fired:u64 skipped:u64 created_at:time modified_at:time"
        ),
        "sys_limit": (
            "rule:text source:text service_name:text handler_name:text pattern:text "
            "limit_by:text concurrency:u64 rate_count:u64 rate_period_ms:u64 rate_burst:u64 "
            "priority:i64 disabled:bool limit_group:text running:u64 queued:u64"
        ),
        "sys_subscription": (
            "id:text source:text sink:text partition:u32 committed_offset:i64 "
            "high_watermark:i64 lag:i64 created_at:time"
        ),
    }
)

_STORED = frozenset(
    {
        "sys_schedule",
        "sys_limit",
        "sys_subscription",
        "sys_rules",
        "state",
        "sys_deployment",
        "sys_inbox",
        "sys_invocation",
        "sys_journal",
        "sys_keyed_service_status",
        "sys_promise",
        "sys_service",
    }
)

TABLES: dict[str, Table] = {
    name: Table(name, _schema(spec), name if name in _STORED else None)
    for name, spec in _COLUMNS.items()
}

# Values of columns a store's view may not have (yet): every perdure journal entry is a
# restate journal v2 entry (a command or a notification), which the CLI reads by `version`.
DEFAULTS: dict[str, dict[str, object]] = {"sys_journal": {"version": 2}}

# perdure's statuses (sys_invocation's) as restate's sys_invocation_status names them.
_STATUS = (
    "CASE status WHEN 'pending' THEN 'inboxed' "
    "WHEN 'ready' THEN 'invoked' WHEN 'running' THEN 'invoked' "
    "WHEN 'backing-off' THEN 'invoked' ELSE status END"
)
# The invoker's state exists while an invocation's attempts are made, retried or paused.
_ATTEMPTED = "status IN ('running', 'backing-off', 'paused')"


def _select(table: str, expressions: dict[str, str], source: str, where: str = "") -> str:
    columns = ", ".join(
        f"arrow_cast({expressions[f.name]}, '{_arrow_name(f.type)}') AS \"{f.name}\""
        if f.name in expressions
        else f'"{f.name}"'
        for f in TABLES[table].schema
    )
    return f"SELECT {columns} FROM {source}{where}"


def _arrow_name(kind: pa.DataType) -> str:
    return {pa.large_utf8(): "LargeUtf8", pa.bool_(): "Boolean", pa.uint64(): "UInt64"}[kind]


# Views over the stored tables, created in every query's session (name -> SELECT).
DERIVED: dict[str, str] = {
    "sys_invocation_status": _select(
        "sys_invocation_status",
        {"status": _STATUS, "partition_key": "NULL"},
        "sys_invocation",
    ),
    "sys_invocation_state": _select(
        "sys_invocation_state",
        {"in_flight": "status = 'running'", "partition_key": "NULL"},
        "sys_invocation",
        f" WHERE {_ATTEMPTED}",
    ),
}
