-- The system tables of restate's `/query`, as views. Superseded by 0004: since then the views
-- are derived objects the store installs at every open (perdure.store.sqlite.views).
CREATE VIEW sys_invocation AS
SELECT
    i.id AS id,
    i.status AS status,
    i.service || '/' || CASE WHEN i.key IS NULL THEN '' ELSE i.key || '/' END || i.handler AS target,
    i.service AS target_service_name,
    i.key AS target_service_key,
    i.handler AS target_handler_name,
    CASE i.service_ty WHEN 'SERVICE' THEN 'service' WHEN 'VIRTUAL_OBJECT' THEN 'virtual_object' WHEN 'WORKFLOW' THEN 'workflow' ELSE lower(i.service_ty) END AS target_service_ty,
    i.idempotency_key AS idempotency_key,
    i.invoked_by AS invoked_by,
    i.caller_id AS invoked_by_id,
    c.service AS invoked_by_service_name,
    CASE WHEN c.id IS NULL THEN NULL ELSE c.service || '/' || CASE WHEN c.key IS NULL THEN '' ELSE c.key || '/' END || c.handler END AS invoked_by_target,
    i.deployment_id AS pinned_deployment_id,
    i.protocol_version AS pinned_service_protocol_version,
    i.deployment_id AS last_attempt_deployment_id,
    i.journal_length AS journal_size,
    i.commands AS journal_commands_size,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.created_at / 1000.0, 'unixepoch') AS created_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.modified_at / 1000.0, 'unixepoch') AS modified_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.execution_time / 1000.0, 'unixepoch') AS scheduled_start_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.next_retry_at / 1000.0, 'unixepoch') AS next_retry_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', i.completed_at / 1000.0, 'unixepoch') AS completed_at,
    CASE WHEN i.status = 'running' THEN 1 ELSE 0 END AS in_flight,
    i.retry_count AS retry_count,
    i.last_failure AS last_failure,
    i.last_failure_code AS last_failure_error_code,
    perdure_output_result(i.result) AS completion_result,
    perdure_output_failure(i.result) AS completion_failure
FROM invocations AS i
LEFT JOIN invocations AS c ON c.id = i.caller_id;

CREATE VIEW sys_journal AS
SELECT
    j.invocation_id AS id,
    j.idx AS "index",
    perdure_entry_type(j.type) AS entry_type,
    perdure_entry_name(j.type, j.payload) AS name,
    j.payload AS raw,
    length(j.payload) AS raw_length,
    perdure_entry_json(j.type, j.payload) AS entry_json,
    strftime('%Y-%m-%dT%H:%M:%fZ', j.appended_at / 1000.0, 'unixepoch') AS appended_at
FROM journal AS j;

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
    strftime('%Y-%m-%dT%H:%M:%fZ', i.created_at / 1000.0, 'unixepoch') AS created_at
FROM inbox AS b
LEFT JOIN invocations AS i ON i.id = b.invocation_id;

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
    CASE s.ty WHEN 'SERVICE' THEN 'service' WHEN 'VIRTUAL_OBJECT' THEN 'virtual_object' WHEN 'WORKFLOW' THEN 'workflow' ELSE lower(s.ty) END AS ty,
    s.deployment_id AS deployment_id
FROM services AS s;

CREATE VIEW sys_deployment AS
SELECT
    d.id AS id,
    'http' AS ty,
    d.uri AS endpoint,
    strftime('%Y-%m-%dT%H:%M:%fZ', d.created_at / 1000.0, 'unixepoch') AS created_at,
    d.min_protocol_version AS min_service_protocol_version,
    d.max_protocol_version AS max_service_protocol_version
FROM deployments AS d
