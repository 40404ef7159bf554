-- Flow control (perdure.server.engine.flow). Rules, the slots of started invocations,
-- the queue of limited ones and the rate-limit token buckets.
CREATE TABLE limit_rules (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    service TEXT,
    handler TEXT,
    pattern TEXT,
    limit_by TEXT,
    concurrency INTEGER,
    rate_count INTEGER,
    rate_period_ms INTEGER,
    rate_burst INTEGER,
    priority INTEGER,
    description TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    modified_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE limit_slots (
    rule_id TEXT NOT NULL,
    grp TEXT NOT NULL,
    invocation_id TEXT NOT NULL,
    PRIMARY KEY (rule_id, grp, invocation_id)
) WITHOUT ROWID;
CREATE INDEX limit_slots_invocation ON limit_slots (invocation_id);
CREATE TABLE limit_waiters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id TEXT NOT NULL,
    grp TEXT NOT NULL,
    priority INTEGER NOT NULL,
    invocation_id TEXT NOT NULL
);
CREATE INDEX limit_waiters_order ON limit_waiters (rule_id, grp, priority DESC, seq);
CREATE INDEX limit_waiters_invocation ON limit_waiters (invocation_id);
CREATE TABLE limit_buckets (
    rule_id TEXT NOT NULL,
    grp TEXT NOT NULL,
    tokens REAL NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (rule_id, grp)
) WITHOUT ROWID
