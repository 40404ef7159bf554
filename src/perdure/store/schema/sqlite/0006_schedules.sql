-- Cron schedules (perdure.server.engine.schedules). Their ticks are timers of kind schedule.
CREATE TABLE schedules (
    name TEXT PRIMARY KEY,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    service TEXT NOT NULL,
    handler TEXT NOT NULL,
    key TEXT,
    argument BLOB NOT NULL,
    overlap TEXT NOT NULL,
    catch_up TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    next_fire_at INTEGER,
    timer_id INTEGER,
    last_fire_at INTEGER,
    last_invocation_id TEXT,
    buffered_tick INTEGER,
    fired INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID
;
-- buffer_one: which schedule waits for this invocation to end (one lookup per completion).
CREATE INDEX schedules_last_invocation ON schedules (last_invocation_id)
