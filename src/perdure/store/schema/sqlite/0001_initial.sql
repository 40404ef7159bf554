CREATE TABLE deployments (
    id TEXT PRIMARY KEY,
    uri TEXT NOT NULL,
    use_http_11 INTEGER NOT NULL,
    protocol_mode TEXT NOT NULL,
    min_protocol_version INTEGER NOT NULL,
    max_protocol_version INTEGER NOT NULL,
    additional_headers TEXT NOT NULL,
    sdk_version TEXT,
    created_at INTEGER NOT NULL,
    manifest_json TEXT NOT NULL
);
CREATE TABLE services (
    name TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    ty TEXT NOT NULL,
    public INTEGER NOT NULL,
    manifest_json TEXT NOT NULL
);
CREATE TABLE invocations (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    handler TEXT NOT NULL,
    key TEXT,
    service_ty TEXT NOT NULL,
    handler_ty TEXT,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    invoked_by TEXT NOT NULL,
    caller_id TEXT,
    idempotency_key TEXT,
    deployment_id TEXT,
    protocol_version INTEGER,
    attempt INTEGER NOT NULL,
    retry_count INTEGER NOT NULL,
    retries_since_progress INTEGER NOT NULL,
    last_progress_at INTEGER NOT NULL,
    next_retry_at INTEGER,
    last_failure TEXT,
    last_failure_code INTEGER,
    waiting_completions TEXT NOT NULL,
    waiting_signals TEXT NOT NULL,
    execution_time INTEGER,
    random_seed INTEGER NOT NULL,
    journal_length INTEGER NOT NULL,
    commands INTEGER NOT NULL,
    completion_retention_ms INTEGER NOT NULL,
    completed_at INTEGER,
    result BLOB
);
CREATE INDEX invocations_status ON invocations (status);
CREATE TABLE journal (
    invocation_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    type INTEGER NOT NULL,
    payload BLOB NOT NULL,
    appended_at INTEGER NOT NULL,
    completion_id INTEGER,
    signal_id INTEGER,
    PRIMARY KEY (invocation_id, idx)
) WITHOUT ROWID;
CREATE TABLE state (
    service TEXT NOT NULL,
    key TEXT NOT NULL,
    state_key BLOB NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (service, key, state_key)
) WITHOUT ROWID;
CREATE TABLE locks (
    service TEXT NOT NULL,
    key TEXT NOT NULL,
    invocation_id TEXT NOT NULL,
    PRIMARY KEY (service, key)
) WITHOUT ROWID;
CREATE TABLE inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL,
    key TEXT NOT NULL,
    invocation_id TEXT NOT NULL UNIQUE
);
CREATE INDEX inbox_key ON inbox (service, key, seq);
CREATE TABLE timers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    due_at INTEGER NOT NULL,
    invocation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    completion_id INTEGER,
    attempt INTEGER
);
CREATE TABLE waiters (
    invocation_id TEXT NOT NULL,
    caller_id TEXT NOT NULL,
    completion_id INTEGER NOT NULL,
    PRIMARY KEY (invocation_id, caller_id, completion_id)
) WITHOUT ROWID;
CREATE TABLE promises (
    service TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    result BLOB,
    PRIMARY KEY (service, key, name)
) WITHOUT ROWID;
