-- Cron schedules (perdure.server.engine.schedules). Their ticks are timers of kind schedule.
CREATE TABLE schedules (
    name TEXT COLLATE "C" PRIMARY KEY,
    cron TEXT COLLATE "C" NOT NULL,
    timezone TEXT COLLATE "C" NOT NULL,
    service TEXT COLLATE "C" NOT NULL,
    handler TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C",
    argument BYTEA NOT NULL,
    overlap TEXT COLLATE "C" NOT NULL,
    catch_up TEXT COLLATE "C" NOT NULL,
    source TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    paused BOOLEAN NOT NULL DEFAULT FALSE,
    next_fire_at BIGINT,
    timer_id BIGINT,
    last_fire_at BIGINT,
    last_invocation_id TEXT COLLATE "C",
    buffered_tick BIGINT,
    fired BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0
);
-- buffer_one: which schedule waits for this invocation to end (one lookup per completion).
CREATE INDEX schedules_last_invocation ON schedules (last_invocation_id)
