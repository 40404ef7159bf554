"""The introspection views on PostgreSQL, in schema `perdure_sys`: the same names, columns
and values as `perdure.store.sqlite.views` (restate's system tables), so the same SQL
gives the same rows on both stores.

SQLite's views call Python to decode protobuf payloads; PostgreSQL cannot. Each decoded
value is produced in one of three ways, chosen by what SQL must do with it:

* **filled at write time** (columns the store writes from the payload, see `tables.py`):
  values a query filters, groups or orders on and that are small: `completion_result`,
  `completion_failure` of an invocation, an entry's `name`, a state entry's `key`. Cost
  (bench/postgres_store.py): one protobuf parse per journal append (3.5-5 µs, also for a
  100 kB Input) or completed invocation (2 µs), against 100-250 µs for the INSERT's round
  trip on loopback.
* **computed in SQL**: `entry_type` (a CASE over the type codes, generated from
  `MessageType` here), timestamps, targets, lengths.
* **decoded after fetching**: display values that can be large and that no query filters
  on: `entry_json`, `value_utf8`, a promise's value and failure. The view returns a small
  composite of the stored bytes (types `perdure_sys.entry_json`, `utf8`, …); the query
  connection's psycopg loaders for those types turn each into the decoded value with
  `perdure.store.introspection`, exactly as SQLite does. Storing them at write time would
  cost 10 µs per small entry but 660 µs and 133 kB more for a 100 kB Input (its JSON is
  the payload again, base64), for values only ever displayed. The price: such a column
  can be selected and ordered, not compared (`WHERE entry_json LIKE …` is refused with
  PostgreSQL's type error). PostgreSQL text cannot hold NUL, another reason `value_utf8`
  is decoded in Python: it reads exactly as on SQLite.

Views and types hold no data: `install_views` drops and recreates the schema at every
open, inside the migration transaction, so they always match the code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from perdure.protocol.messages import MessageType
from perdure.store import introspection
from perdure.store.entry_json import entry_json, entry_lite_json
from perdure.store.postgres.feature_views import feature_views

SCHEMA = "perdure_sys"

# The names a query may read: restate's system tables (and `state`).
VIEW_NAMES: tuple[str, ...] = (
    "sys_invocation",
    "sys_journal",
    "sys_state",
    "state",
    "sys_inbox",
    "sys_keyed_service_status",
    "sys_promise",
    "sys_service",
    "sys_deployment",
    "sys_schedule",
    "sys_limit",
    "sys_rules",
    "sys_subscription",
)


def _utf8_text(blob: bytes | None) -> str | None:
    return introspection.utf8(blob)


def _output_value_utf8(blob: bytes | None) -> str | None:
    return introspection.utf8(introspection.output_value(blob))


# Composite types decoded after fetching: name, fields, decoder (called with the fields).
DECODED_TYPES: tuple[tuple[str, str, Callable[..., Any]], ...] = (
    (
        "entry_json",
        "type integer, payload bytea, callee_id text, callee_service_ty text, "
        "callee_handler_ty text, callee_completion_retention_ms bigint, "
        "callee_journal_retention_ms bigint",
        entry_json,
    ),
    (
        "entry_lite_json",
        "type integer, payload bytea, callee_id text, callee_service_ty text, "
        "callee_handler_ty text",
        entry_lite_json,
    ),
    ("utf8", "bytes bytea", _utf8_text),
    ("output_value", "result bytea", introspection.output_value),
    ("output_value_utf8", "result bytea", _output_value_utf8),
    ("output_failure", "result bytea", introspection.output_failure),
    (
        "waiting_future",
        "completions bigint[], signals bigint[], names text[]",
        introspection.waiting_future_of_lists,
    ),
)


# What a call's entry_json shows of its callee (the invocation row named by the
# CallInvocationId notification, whose id the store writes into `journal.callee_id`).
_ENTRY_JSON_COLUMNS = (
    "j.type",
    "j.payload",
    "n.callee_id",
    "c.service_ty",
    "c.handler_ty",
    "c.completion_retention_ms",
    "c.journal_retention_ms",
)
_CALL_TYPES = f"{MessageType.CALL.value}, {MessageType.ONE_WAY_CALL.value}"


def _decoded(type_name: str, *columns: str) -> str:
    """A decoded-after-fetch value: NULL when the first column is NULL, else the composite."""
    return (
        f"CASE WHEN {columns[0]} IS NULL THEN NULL "
        f"ELSE ROW({', '.join(columns)})::{SCHEMA}.{type_name} END"
    )


def _ts(column: str) -> str:
    # Exact milliseconds, RFC 3339 as SQLite's strftime('%Y-%m-%dT%H:%M:%fZ') prints them.
    return (
        f"to_char(TIMESTAMP '1970-01-01' + {column} * INTERVAL '1 millisecond', "
        """'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
    )


def _target(alias: str) -> str:
    return (
        f"{alias}.service || '/' || CASE WHEN {alias}.key IS NULL THEN '' "
        f"ELSE {alias}.key || '/' END || {alias}.handler"
    )


def _entry_type(column: str) -> str:
    labels = " ".join(f"WHEN {int(t)} THEN '{t.entry_label}'" for t in MessageType)
    unknown = (
        f"'Unknown: 0x' || CASE WHEN length(to_hex({column})) < 4 "
        f"THEN lpad(to_hex({column}), 4, '0') ELSE to_hex({column}) END"
    )
    return f"CASE {column} {labels} ELSE {unknown} END"


_SERVICE_TY = (
    "CASE {col} WHEN 'SERVICE' THEN 'service' WHEN 'VIRTUAL_OBJECT' THEN 'virtual_object' "
    "WHEN 'WORKFLOW' THEN 'workflow' ELSE lower({col}) END"
)


# restate's sys_invocation joins the invocation's status with the invoker's state of its
# attempts, which exists only while attempts are made or retried (perdure keeps it for
# paused ones too). Same rules as `perdure.store.sqlite.views`.
def _attempts(expression: str) -> str:
    return f"CASE WHEN i.status IN ('running', 'backing-off', 'paused') THEN {expression} END"


def _suspended(expression: str) -> str:
    return f"CASE WHEN i.status = 'suspended' THEN {expression} END"


def _started(expression: str) -> str:
    return f"CASE WHEN i.status NOT IN ('scheduled', 'pending') THEN {expression} END"


def _pinned(expression: str) -> str:
    return (
        f"CASE WHEN i.commands > 1 OR (i.status = 'completed' AND i.journal_length = 0) "
        f"THEN {expression} END"
    )


# Entries written before names were stored for unnamed commands show "" as restate does.
_COMMAND_TYPES = ", ".join(str(int(t)) for t in MessageType if t.is_command)


def _sorted(column: str) -> str:
    return f"ARRAY(SELECT unnest({column}) ORDER BY 1)"


_FUTURE = (
    "ROW(i.waiting_completions, i.waiting_signals, i.waiting_named_signals)::"
    f"{SCHEMA}.waiting_future"
)


def _failure_text() -> str:
    """`introspection.failure_text` in SQL: `[500 Internal] message`, then the trace."""
    names = " ".join(
        f"WHEN {code} THEN ' {name}'" for code, name in introspection.CODE_NAMES.items()
    )
    label = f"i.last_failure_code::text || CASE i.last_failure_code {names} ELSE '' END"
    trace = (
        "CASE WHEN i.last_failure_stacktrace IS NOT NULL AND i.last_failure_stacktrace <> '' "
        "THEN E'\\n' || i.last_failure_stacktrace ELSE '' END"
    )
    return (
        f"CASE WHEN i.last_failure IS NULL THEN NULL "
        f"ELSE '[' || {label} || '] ' || i.last_failure || {trace} END"
    )


def _command_type(column: str) -> str:
    whens = " ".join(
        f"WHEN {int(t)} THEN '{n}'" for t, n in introspection.REPORTED_COMMAND_TYPES.items()
    )
    return f"CASE {column} {whens} END"


def _iso_duration(column: str) -> str:
    """`introspection.iso_duration` in SQL (`PT86400S`, `PT0.5S`, `P0D`)."""
    fraction = f"rtrim('.' || lpad(({column} % 1000)::text, 3, '0'), '0')"
    return (
        f"CASE WHEN {column} IS NULL THEN NULL WHEN {column} = 0 THEN 'P0D' "
        f"ELSE 'PT' || ({column} / 1000)::text || "
        f"CASE WHEN {column} % 1000 <> 0 THEN {fraction} ELSE '' END || 'S' END"
    )


_VIEWS: dict[str, str] = {
    "sys_invocation": f"""
SELECT
    i.id AS id,
    NULL::text AS vqueue_id,
    {_target("i")} AS target,
    i.service AS target_service_name,
    i.key AS target_service_key,
    i.handler AS target_handler_name,
    {_SERVICE_TY.format(col="i.service_ty")} AS target_service_ty,
    NULL::text AS scope,
    NULL::text AS limit_key,
    i.idempotency_key AS idempotency_key,
    i.invoked_by AS invoked_by,
    c.service AS invoked_by_service_name,
    i.caller_id AS invoked_by_id,
    NULL::text AS invoked_by_subscription_id,
    CASE WHEN c.id IS NULL THEN NULL ELSE {_target("c")} END AS invoked_by_target,
    NULL::text AS restarted_from,
    {_pinned("i.deployment_id")} AS pinned_deployment_id,
    {_pinned("i.protocol_version")} AS pinned_service_protocol_version,
    NULL::text AS trace_id,
    {_started("i.journal_length")} AS journal_size,
    {_started("i.commands")} AS journal_commands_size,
    {_ts("i.created_at")} AS created_at,
    NULL::text AS created_using_restate_version,
    {_ts("i.modified_at")} AS modified_at,
    NULL::text AS inboxed_at,
    NULL::text AS scheduled_at,
    {_ts("i.execution_time")} AS scheduled_start_at,
    {_ts("i.first_attempt_at")} AS running_at,
    {_ts("i.completed_at")} AS completed_at,
    {_iso_duration("i.completion_retention_ms")} AS completion_retention,
    {_iso_duration("i.journal_retention_ms")} AS journal_retention,
    {_suspended(_sorted("i.waiting_completions"))} AS suspended_waiting_for_completions,
    {_suspended(_sorted("i.waiting_signals"))} AS suspended_waiting_for_signals,
    {_suspended(_FUTURE)} AS suspended_waiting_future_json,
    {_attempts("i.retry_count")} AS retry_count,
    {_attempts(_ts("i.last_attempt_at"))} AS last_start_at,
    {_attempts(_ts("i.next_retry_at"))} AS next_retry_at,
    {_attempts("i.deployment_id")} AS last_attempt_deployment_id,
    {_attempts("d.sdk_version")} AS last_attempt_server,
    {_attempts(_failure_text())} AS last_failure,
    {_attempts("i.last_failure_doc_code")} AS last_failure_error_code,
    NULL::bigint AS last_failure_related_entry_index,
    NULL::text AS last_failure_related_entry_name,
    NULL::text AS last_failure_related_entry_type,
    {_attempts("i.last_failure_command_index")} AS last_failure_related_command_index,
    {_attempts("i.last_failure_command_name")} AS last_failure_related_command_name,
    {_attempts(_command_type("i.last_failure_command_type"))}
        AS last_failure_related_command_type,
    NULL::text AS last_awaiting_on_future_json,
    i.status AS status,
    i.completion_result AS completion_result,
    i.completion_failure AS completion_failure
FROM public.invocations AS i
LEFT JOIN public.invocations AS c ON c.id = i.caller_id
LEFT JOIN public.deployments AS d ON d.id = i.deployment_id""",
    "sys_journal": f"""
SELECT
    j.partition_key::numeric + 9223372036854775808 AS partition_key,
    j.invocation_id AS id,
    j.idx AS "index",
    {_entry_type("j.type")} AS entry_type,
    COALESCE(j.entry_name, CASE WHEN j.type IN ({_COMMAND_TYPES}) THEN '' END) AS name,
    NULL::boolean AS completed,
    NULL::text AS invoked_id,
    NULL::text AS invoked_target,
    NULL::text AS sleep_wakeup_at,
    NULL::text AS promise_name,
    j.payload AS raw,
    octet_length(j.payload) AS raw_length,
    2 AS version,
    {_decoded("entry_json", *_ENTRY_JSON_COLUMNS)} AS entry_json,
    {_decoded("entry_lite_json", *_ENTRY_JSON_COLUMNS[:5])} AS entry_lite_json,
    {_ts("j.appended_at")} AS appended_at
FROM public.journal AS j
-- A call's callee (for its entry_json): the CallInvocationId notification that follows it.
LEFT JOIN public.journal AS n
    ON j.type IN ({_CALL_TYPES}) AND n.invocation_id = j.invocation_id
    AND n.idx = j.idx + 1 AND n.type = {MessageType.CALL_INVOCATION_ID_COMPLETION.value}
LEFT JOIN public.invocations AS c ON c.id = n.callee_id""",
    "sys_state": f"""
SELECT
    s.service AS service_name,
    s.key AS service_key,
    s.key_utf8 AS key,
    octet_length(s.state_key) AS key_length,
    {_decoded("utf8", "s.value")} AS value_utf8,
    s.value AS value,
    octet_length(s.value) AS value_length
FROM public.state AS s""",
    "state": f"SELECT * FROM {SCHEMA}.sys_state",
    "sys_inbox": f"""
SELECT
    b.service AS service_name,
    b.key AS service_key,
    b.invocation_id AS id,
    b.seq AS sequence_number,
    {_ts("i.created_at")} AS created_at
FROM public.inbox AS b
LEFT JOIN public.invocations AS i ON i.id = b.invocation_id
WHERE b.state_mutation IS NULL""",
    "sys_keyed_service_status": """
SELECT l.service AS service_name, l.key AS service_key, l.invocation_id AS invocation_id
FROM public.locks AS l""",
    "sys_promise": f"""
SELECT
    p.service AS service_name,
    p.key AS service_key,
    p.name AS key,
    CASE WHEN p.result IS NULL THEN 0 ELSE 1 END AS completed,
    {_decoded("output_value", "p.result")} AS completion_success_value,
    {_decoded("output_value_utf8", "p.result")} AS completion_success_value_utf8,
    {_decoded("output_failure", "p.result")} AS completion_failure
FROM public.promises AS p""",
    "sys_service": f"""
SELECT
    s.name AS name,
    s.revision AS revision,
    CASE WHEN s.public THEN 1 ELSE 0 END AS public,
    {_SERVICE_TY.format(col="s.ty")} AS ty,
    s.deployment_id AS deployment_id
FROM public.services AS s""",
    "sys_deployment": f"""
SELECT
    d.id AS id,
    'http' AS ty,
    d.uri AS endpoint,
    {_ts("d.created_at")} AS created_at,
    d.min_protocol_version AS min_service_protocol_version,
    d.max_protocol_version AS max_service_protocol_version
FROM public.deployments AS d""",
}


_VIEWS.update(feature_views(_ts))


def view_statements() -> list[str]:
    """Drop and recreate the schema with its types and views (no grants)."""
    statements = [f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}"]
    statements += [f"CREATE TYPE {SCHEMA}.{name} AS ({body})" for name, body, _ in DECODED_TYPES]
    statements += [f"CREATE VIEW {SCHEMA}.{name} AS {_VIEWS[name]}" for name in VIEW_NAMES]
    return statements
