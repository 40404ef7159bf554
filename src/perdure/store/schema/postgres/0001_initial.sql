-- perdure's tables on PostgreSQL: the SQLite schema of the same name, plus
--   * partition_key on every partitioned table: the row's u64 partition key minus 2^63
--     (perdure.store.partitioning), so a partition is a contiguous BIGINT range,
--   * values the introspection views need and cannot compute in SQL, filled by the
--     store's write path from the payload (completion_result/_failure, entry_name,
--     key_utf8, see perdure.store.postgres.views),
--   * meta: facts fixed when the schema was created (the partition count).
-- Text compares byte-wise (COLLATE "C"), as in SQLite, whatever the database's locale.
CREATE TABLE meta (
    name TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE deployments (
    id TEXT COLLATE "C" PRIMARY KEY,
    uri TEXT COLLATE "C" NOT NULL,
    use_http_11 BOOLEAN NOT NULL,
    protocol_mode TEXT COLLATE "C" NOT NULL,
    min_protocol_version INTEGER NOT NULL,
    max_protocol_version INTEGER NOT NULL,
    additional_headers TEXT NOT NULL,
    sdk_version TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    manifest_json TEXT NOT NULL
);
CREATE TABLE services (
    name TEXT COLLATE "C" PRIMARY KEY,
    deployment_id TEXT COLLATE "C" NOT NULL,
    revision BIGINT NOT NULL,
    ty TEXT COLLATE "C" NOT NULL,
    public BOOLEAN NOT NULL,
    manifest_json TEXT NOT NULL
);
CREATE TABLE invocations (
    id TEXT COLLATE "C" PRIMARY KEY,
    partition_key BIGINT NOT NULL,
    service TEXT COLLATE "C" NOT NULL,
    handler TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C",
    service_ty TEXT COLLATE "C" NOT NULL,
    handler_ty TEXT COLLATE "C",
    status TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    invoked_by TEXT COLLATE "C" NOT NULL,
    caller_id TEXT COLLATE "C",
    idempotency_key TEXT COLLATE "C",
    deployment_id TEXT COLLATE "C",
    protocol_version INTEGER,
    attempt BIGINT NOT NULL,
    retry_count BIGINT NOT NULL,
    retries_since_progress BIGINT NOT NULL,
    last_progress_at BIGINT NOT NULL,
    next_retry_at BIGINT,
    last_failure TEXT COLLATE "C",
    last_failure_code BIGINT,
    waiting_completions BIGINT[] NOT NULL,
    waiting_signals BIGINT[] NOT NULL,
    execution_time BIGINT,
    -- a u64, kept two's complement
    random_seed BIGINT NOT NULL,
    journal_length BIGINT NOT NULL,
    commands BIGINT NOT NULL,
    completion_retention_ms BIGINT NOT NULL,
    completed_at BIGINT,
    result BYTEA,
    completion_result TEXT COLLATE "C",
    completion_failure TEXT COLLATE "C"
);
CREATE INDEX invocations_status ON invocations (status);
CREATE TABLE journal (
    invocation_id TEXT COLLATE "C" NOT NULL,
    idx INTEGER NOT NULL,
    partition_key BIGINT NOT NULL,
    type INTEGER NOT NULL,
    payload BYTEA NOT NULL,
    appended_at BIGINT NOT NULL,
    completion_id BIGINT,
    signal_id BIGINT,
    entry_name TEXT COLLATE "C",
    PRIMARY KEY (invocation_id, idx)
);
CREATE TABLE state (
    service TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    state_key BYTEA NOT NULL,
    partition_key BIGINT NOT NULL,
    value BYTEA NOT NULL,
    key_utf8 TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (service, key, state_key)
);
CREATE TABLE locks (
    service TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    partition_key BIGINT NOT NULL,
    invocation_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (service, key)
);
CREATE TABLE inbox (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    partition_key BIGINT NOT NULL,
    invocation_id TEXT COLLATE "C" NOT NULL UNIQUE
);
CREATE INDEX inbox_key ON inbox (service, key, seq);
CREATE TABLE timers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partition_key BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    invocation_id TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    completion_id BIGINT,
    attempt BIGINT
);
CREATE TABLE waiters (
    invocation_id TEXT COLLATE "C" NOT NULL,
    caller_id TEXT COLLATE "C" NOT NULL,
    completion_id BIGINT NOT NULL,
    partition_key BIGINT NOT NULL,
    PRIMARY KEY (invocation_id, caller_id, completion_id)
);
CREATE TABLE promises (
    service TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    partition_key BIGINT NOT NULL,
    result BYTEA,
    PRIMARY KEY (service, key, name)
)
