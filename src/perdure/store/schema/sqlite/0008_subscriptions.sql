-- Kafka subscriptions (perdure.server.engine.subscriptions) and their ingested offsets.
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    sink TEXT NOT NULL,
    options TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE subscription_offsets (
    subscription_id TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    high_watermark INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, partition)
) WITHOUT ROWID
