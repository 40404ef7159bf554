ALTER TABLE invocations ADD COLUMN journal_retention_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX invocations_completed ON invocations (status, completed_at);
ALTER TABLE waiters ADD COLUMN entry_type INTEGER NOT NULL DEFAULT 32781;
CREATE TABLE promise_listeners (
    service TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    invocation_id TEXT NOT NULL,
    completion_id INTEGER NOT NULL,
    PRIMARY KEY (service, key, name, invocation_id, completion_id)
) WITHOUT ROWID;
CREATE INDEX timers_invocation ON timers (invocation_id)
