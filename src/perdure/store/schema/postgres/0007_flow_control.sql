-- Flow control (perdure.server.engine.flow). Rules, the slots of started invocations,
-- the queue of limited ones and the rate-limit token buckets.
CREATE TABLE limit_rules (
    id TEXT COLLATE "C" PRIMARY KEY,
    source TEXT COLLATE "C" NOT NULL,
    service TEXT COLLATE "C",
    handler TEXT COLLATE "C",
    pattern TEXT COLLATE "C",
    limit_by TEXT COLLATE "C",
    concurrency BIGINT,
    rate_count BIGINT,
    rate_period_ms BIGINT,
    rate_burst BIGINT,
    priority BIGINT,
    description TEXT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 1,
    modified_at BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE limit_slots (
    rule_id TEXT COLLATE "C" NOT NULL,
    grp TEXT COLLATE "C" NOT NULL,
    invocation_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (rule_id, grp, invocation_id)
);
CREATE INDEX limit_slots_invocation ON limit_slots (invocation_id);
CREATE TABLE limit_waiters (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id TEXT COLLATE "C" NOT NULL,
    grp TEXT COLLATE "C" NOT NULL,
    priority BIGINT NOT NULL,
    invocation_id TEXT COLLATE "C" NOT NULL
);
CREATE INDEX limit_waiters_order ON limit_waiters (rule_id, grp, priority DESC, seq);
CREATE INDEX limit_waiters_invocation ON limit_waiters (invocation_id);
CREATE TABLE limit_buckets (
    rule_id TEXT COLLATE "C" NOT NULL,
    grp TEXT COLLATE "C" NOT NULL,
    tokens DOUBLE PRECISION NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (rule_id, grp)
)
