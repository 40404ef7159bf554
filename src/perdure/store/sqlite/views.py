"""Introspection views named like restate-server's system tables (`POST /query`).

They are plain SQL over perdure's own tables, so that tools written for Restate
(`SELECT id, status FROM sys_invocation WHERE id = '…'`, the UI, the CLI) read perdure
without knowing its storage layout. Values that only exist inside protobuf blobs (entry
names, failure messages, lossy UTF-8) come from `perdure_*` SQL functions that the query
connection registers (`perdure.store.sqlite.query`); the store's own connections never read
these views, so they do not need them.

Views hold no data: `install_views` drops and recreates them at every open, inside the
migration transaction, so they always match the code.

Timestamps are rendered as RFC 3339 text (what the Arrow JSON writer prints for restate's
millisecond timestamps); blobs stay blobs.
"""

from __future__ import annotations

import sqlite3

from perdure.protocol.messages import MessageType
from perdure.store.sqlite.feature_views import FEATURE_VIEW_NAMES, FEATURE_VIEWS_SQL


def _ts(column: str) -> str:
    return f"strftime('%Y-%m-%dT%H:%M:%fZ', {column} / 1000.0, 'unixepoch')"


def _target(alias: str) -> str:
    return (
        f"{alias}.service || '/' || CASE WHEN {alias}.key IS NULL THEN '' "
        f"ELSE {alias}.key || '/' END || {alias}.handler"
    )


# restate's sys_invocation joins the invocation's status with the invoker's state of its
# attempts, which exists only while attempts are made or retried (perdure keeps it for
# paused ones too, whose last failure is why they paused).
_ATTEMPT_STATUSES = "('running', 'backing-off', 'paused')"


def _attempts(expression: str) -> str:
    return f"CASE WHEN i.status IN {_ATTEMPT_STATUSES} THEN {expression} END"


def _suspended(expression: str) -> str:
    return f"CASE WHEN i.status = 'suspended' THEN {expression} END"


def _started(expression: str) -> str:
    """Journal sizes exist once an invocation started (restate: not while scheduled or
    waiting in the inbox)."""
    return f"CASE WHEN i.status NOT IN ('scheduled', 'pending') THEN {expression} END"


def _pinned(expression: str) -> str:
    """restate pins the deployment when an attempt stores its first command after Input;
    a completed invocation whose journal was dropped keeps it."""
    return (
        f"CASE WHEN i.commands > 1 OR (i.status = 'completed' AND i.journal_length = 0) "
        f"THEN {expression} END"
    )


_FAILURE = "perdure_failure_text(i.last_failure_code, i.last_failure, i.last_failure_stacktrace)"
_FUTURE = (
    "perdure_waiting_future(i.waiting_completions, i.waiting_signals, i.waiting_named_signals)"
)

_SERVICE_TY = (
    "CASE {col} WHEN 'SERVICE' THEN 'service' WHEN 'VIRTUAL_OBJECT' THEN 'virtual_object' "
    "WHEN 'WORKFLOW' THEN 'workflow' ELSE lower({col}) END"
)

CALL = MessageType.CALL.value
ONE_WAY_CALL = MessageType.ONE_WAY_CALL.value
CALL_INVOCATION_ID = MessageType.CALL_INVOCATION_ID_COMPLETION.value

# The view names `POST /query` may read (the authorizer refuses everything else).
VIEW_NAMES: tuple[str, ...] = (
    "sys_invocation",
    "sys_journal",
    "sys_state",
    "sys_inbox",
    "sys_keyed_service_status",
    "sys_promise",
    "sys_service",
    "sys_deployment",
    *FEATURE_VIEW_NAMES,
)

# restate's `state` table shares its name with perdure's own `state` table, so the view is
# stored as `sys_state`; the query connection adds a TEMP view `state` over it (temp names
# shadow main ones), which is what `SELECT … FROM state` then reads.
INTROSPECTION_VIEWS_SQL = f"""
CREATE VIEW sys_invocation AS
SELECT
    i.id AS id,
    NULL AS vqueue_id,
    {_target("i")} AS target,
    i.service AS target_service_name,
    i.key AS target_service_key,
    i.handler AS target_handler_name,
    {_SERVICE_TY.format(col="i.service_ty")} AS target_service_ty,
    NULL AS scope,
    NULL AS limit_key,
    i.idempotency_key AS idempotency_key,
    i.invoked_by AS invoked_by,
    c.service AS invoked_by_service_name,
    i.caller_id AS invoked_by_id,
    NULL AS invoked_by_subscription_id,
    CASE WHEN c.id IS NULL THEN NULL ELSE {_target("c")} END AS invoked_by_target,
    NULL AS restarted_from,
    {_pinned("i.deployment_id")} AS pinned_deployment_id,
    {_pinned("i.protocol_version")} AS pinned_service_protocol_version,
    NULL AS trace_id,
    {_started("i.journal_length")} AS journal_size,
    {_started("i.commands")} AS journal_commands_size,
    {_ts("i.created_at")} AS created_at,
    NULL AS created_using_restate_version,
    {_ts("i.modified_at")} AS modified_at,
    NULL AS inboxed_at,
    NULL AS scheduled_at,
    {_ts("i.execution_time")} AS scheduled_start_at,
    {_ts("i.first_attempt_at")} AS running_at,
    {_ts("i.completed_at")} AS completed_at,
    perdure_iso_duration(i.completion_retention_ms) AS completion_retention,
    perdure_iso_duration(i.journal_retention_ms) AS journal_retention,
    {_suspended("perdure_id_list(i.waiting_completions)")} AS suspended_waiting_for_completions,
    {_suspended("perdure_id_list(i.waiting_signals)")} AS suspended_waiting_for_signals,
    {_suspended(_FUTURE)} AS suspended_waiting_future_json,
    {_attempts("i.retry_count")} AS retry_count,
    {_attempts(_ts("i.last_attempt_at"))} AS last_start_at,
    {_attempts(_ts("i.next_retry_at"))} AS next_retry_at,
    {_attempts("i.deployment_id")} AS last_attempt_deployment_id,
    {_attempts("d.sdk_version")} AS last_attempt_server,
    {_attempts(_FAILURE)} AS last_failure,
    {_attempts("i.last_failure_doc_code")} AS last_failure_error_code,
    NULL AS last_failure_related_entry_index,
    NULL AS last_failure_related_entry_name,
    NULL AS last_failure_related_entry_type,
    {_attempts("i.last_failure_command_index")} AS last_failure_related_command_index,
    {_attempts("i.last_failure_command_name")} AS last_failure_related_command_name,
    {_attempts("perdure_command_type(i.last_failure_command_type)")}
        AS last_failure_related_command_type,
    NULL AS last_awaiting_on_future_json,
    i.status AS status,
    perdure_output_result(i.result) AS completion_result,
    perdure_output_failure(i.result) AS completion_failure
FROM invocations AS i
LEFT JOIN invocations AS c ON c.id = i.caller_id
LEFT JOIN deployments AS d ON d.id = i.deployment_id;

CREATE VIEW sys_journal AS
SELECT
    perdure_partition_key(j.invocation_id) AS partition_key,
    j.invocation_id AS id,
    j.idx AS "index",
    perdure_entry_type(j.type) AS entry_type,
    perdure_entry_name(j.type, j.payload) AS name,
    NULL AS completed,
    NULL AS invoked_id,
    NULL AS invoked_target,
    NULL AS sleep_wakeup_at,
    NULL AS promise_name,
    j.payload AS raw,
    length(j.payload) AS raw_length,
    2 AS version,
    perdure_entry_json(
        j.type, j.payload, c.id, c.service_ty, c.handler_ty,
        c.completion_retention_ms, c.journal_retention_ms
    ) AS entry_json,
    perdure_entry_lite_json(j.type, j.payload, c.id, c.service_ty, c.handler_ty)
        AS entry_lite_json,
    {_ts("j.appended_at")} AS appended_at
FROM journal AS j
-- A call's callee (for its entry_json): the CallInvocationId notification that follows it.
LEFT JOIN journal AS n
    ON j.type IN ({CALL}, {ONE_WAY_CALL}) AND n.invocation_id = j.invocation_id
    AND n.idx = j.idx + 1 AND n.type = {CALL_INVOCATION_ID}
LEFT JOIN invocations AS c ON c.id = perdure_callee_id(n.type, n.payload);

CREATE VIEW sys_state AS
SELECT
    s.service AS service_name,
    s.key AS service_key,
    perdure_utf8(s.state_key) AS key,
    length(s.state_key) AS key_length,
    perdure_utf8(s.value) AS value_utf8,
    s.value AS value,
    length(s.value) AS value_length
FROM state AS s;

CREATE VIEW sys_inbox AS
SELECT
    b.service AS service_name,
    b.key AS service_key,
    b.invocation_id AS id,
    b.seq AS sequence_number,
    {_ts("i.created_at")} AS created_at
FROM inbox AS b
LEFT JOIN invocations AS i ON i.id = b.invocation_id
WHERE b.state_mutation IS NULL;

CREATE VIEW sys_keyed_service_status AS
SELECT l.service AS service_name, l.key AS service_key, l.invocation_id AS invocation_id
FROM locks AS l;

CREATE VIEW sys_promise AS
SELECT
    p.service AS service_name,
    p.key AS service_key,
    p.name AS key,
    CASE WHEN p.result IS NULL THEN 0 ELSE 1 END AS completed,
    perdure_output_value(p.result) AS completion_success_value,
    perdure_utf8(perdure_output_value(p.result)) AS completion_success_value_utf8,
    perdure_output_failure(p.result) AS completion_failure
FROM promises AS p;

CREATE VIEW sys_service AS
SELECT
    s.name AS name,
    s.revision AS revision,
    s.public AS public,
    {_SERVICE_TY.format(col="s.ty")} AS ty,
    s.deployment_id AS deployment_id
FROM services AS s;

CREATE VIEW sys_deployment AS
SELECT
    d.id AS id,
    'http' AS ty,
    d.uri AS endpoint,
    {_ts("d.created_at")} AS created_at,
    d.min_protocol_version AS min_service_protocol_version,
    d.max_protocol_version AS max_service_protocol_version
FROM deployments AS d
"""


def install_views(conn: sqlite3.Connection) -> None:
    """Drop and recreate every view (the caller holds a write transaction)."""
    for name in VIEW_NAMES:
        conn.execute(f"DROP VIEW IF EXISTS {name}")
    for statement in (INTROSPECTION_VIEWS_SQL + ";" + FEATURE_VIEWS_SQL).split(";"):
        if statement.strip():
            conn.execute(statement)
