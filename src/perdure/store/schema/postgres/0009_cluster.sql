-- Cluster mode: several perdure nodes on this database (perdure.server.cluster).
--   * nodes: who is up, and when each last said so (its heartbeat),
--   * leases: one row per partition, the node leasing it, the fencing epoch (bumped at
--     every takeover) and when the lease ends unless renewed (a write of a partition
--     checks node and epoch in its own transaction),
--   * partition_messages: each partition's inbox of cross-partition messages and of
--     commands routed from other nodes, consumed exactly once by the partition's owner,
--   * command_replies: answers to routed commands and results for waiting nodes,
--   * result_watchers: nodes waiting on an invocation's result (in its partition).
CREATE TABLE nodes (
    name TEXT COLLATE "C" PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    lease_ttl_ms BIGINT NOT NULL,
    stopped BOOLEAN NOT NULL
);
CREATE TABLE leases (
    partition INTEGER PRIMARY KEY,
    node TEXT COLLATE "C",
    epoch BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE partition_messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partition INTEGER NOT NULL,
    body BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX partition_messages_partition ON partition_messages (partition, id);
CREATE TABLE command_replies (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node TEXT COLLATE "C" NOT NULL,
    request_id TEXT COLLATE "C" NOT NULL,
    body BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX command_replies_node ON command_replies (node, id);
CREATE TABLE result_watchers (
    invocation_id TEXT COLLATE "C" NOT NULL,
    node TEXT COLLATE "C" NOT NULL,
    partition_key BIGINT NOT NULL,
    PRIMARY KEY (invocation_id, node)
);
-- A new owner recovers, times and cleans one partition: its key range.
CREATE INDEX invocations_partition ON invocations (partition_key, status);
CREATE INDEX timers_partition ON timers (partition_key)
