ALTER TABLE invocations ADD COLUMN journal_retention_ms BIGINT NOT NULL DEFAULT 0;
CREATE INDEX invocations_completed ON invocations (status, completed_at);
ALTER TABLE waiters ADD COLUMN entry_type INTEGER NOT NULL DEFAULT 32781;
CREATE TABLE promise_listeners (
    service TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    invocation_id TEXT COLLATE "C" NOT NULL,
    completion_id BIGINT NOT NULL,
    partition_key BIGINT NOT NULL,
    PRIMARY KEY (service, key, name, invocation_id, completion_id)
);
CREATE INDEX timers_invocation ON timers (invocation_id)
