-- Kafka subscriptions (perdure.server.engine.subscriptions) and their ingested offsets.
CREATE TABLE subscriptions (
    id TEXT COLLATE "C" PRIMARY KEY,
    source TEXT COLLATE "C" NOT NULL,
    sink TEXT COLLATE "C" NOT NULL,
    options TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE subscription_offsets (
    subscription_id TEXT COLLATE "C" NOT NULL,
    partition BIGINT NOT NULL,
    next_offset BIGINT NOT NULL,
    high_watermark BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, partition)
)
