"""Introspection views of perdure's own features: cron schedules (`sys_schedule`), flow
control (`sys_limit`: per rule and group, how many invocations run and how many are
queued; `sys_rules`: the Restate-style pattern rules, as restate-server 1.7 names them), Kafka
subscriptions (`sys_subscription`: per partition, the next offset to ingest, the high
watermark last seen and the lag).
Installed with the others (`views.install_views`), readable by `POST /query`."""

from __future__ import annotations


def ts_sql(column: str) -> str:
    """A ms timestamp as RFC 3339 text, as the restate-named views render them."""
    return f"strftime('%Y-%m-%dT%H:%M:%fZ', {column} / 1000.0, 'unixepoch')"


FEATURE_VIEW_NAMES: tuple[str, ...] = ("sys_schedule", "sys_limit", "sys_rules", "sys_subscription")

FEATURE_VIEWS_SQL = f"""
CREATE VIEW sys_schedule AS
SELECT
    s.name AS name,
    s.cron AS cron,
    s.timezone AS timezone,
    s.service || '/' || CASE WHEN s.key IS NULL THEN '' ELSE s.key || '/' END || s.handler
        AS target,
    s.service AS target_service_name,
    s.key AS target_service_key,
    s.handler AS target_handler_name,
    s.overlap AS overlap,
    s.catch_up AS catch_up,
    s.source AS source,
    s.paused AS paused,
    {ts_sql("s.next_fire_at")} AS next_fire_at,
    {ts_sql("s.last_fire_at")} AS last_fire_at,
    s.last_invocation_id AS last_invocation_id,
    i.status AS last_invocation_status,
    {ts_sql("s.buffered_tick")} AS buffered_tick,
    s.fired AS fired,
    s.skipped AS skipped,
    {ts_sql("s.created_at")} AS created_at,
    {ts_sql("s.modified_at")} AS modified_at
FROM schedules AS s
LEFT JOIN invocations AS i ON i.id = s.last_invocation_id

;
CREATE VIEW sys_limit AS
SELECT
    r.id AS rule,
    r.source AS source,
    r.service AS service_name,
    r.handler AS handler_name,
    r.pattern AS pattern,
    r.limit_by AS limit_by,
    r.concurrency AS concurrency,
    r.rate_count AS rate_count,
    r.rate_period_ms AS rate_period_ms,
    r.rate_burst AS rate_burst,
    r.priority AS priority,
    r.disabled AS disabled,
    g.grp AS limit_group,
    (SELECT COUNT(*) FROM limit_slots s WHERE s.rule_id = r.id AND s.grp = g.grp) AS running,
    (SELECT COUNT(*) FROM limit_waiters w WHERE w.rule_id = r.id AND w.grp = g.grp) AS queued
FROM limit_rules AS r
LEFT JOIN (
    SELECT rule_id, grp FROM limit_slots UNION SELECT rule_id, grp FROM limit_waiters
) AS g ON g.rule_id = r.id;

CREATE VIEW sys_rules AS
SELECT
    r.pattern AS pattern,
    r.concurrency AS concurrency,
    r.description AS description,
    r.disabled AS disabled,
    r.version AS version,
    {ts_sql("r.modified_at")} AS last_modified,
    r.modified_at AS last_modified_millis_since_epoch
FROM limit_rules AS r
WHERE r.pattern IS NOT NULL
;

CREATE VIEW sys_subscription AS
SELECT
    s.id AS id,
    s.source AS source,
    s.sink AS sink,
    o.partition AS partition,
    o.next_offset AS committed_offset,
    o.high_watermark AS high_watermark,
    CASE WHEN o.partition IS NULL THEN NULL
        ELSE max(o.high_watermark - o.next_offset, 0) END AS lag,
    {ts_sql("s.created_at")} AS created_at
FROM subscriptions AS s
LEFT JOIN subscription_offsets AS o ON o.subscription_id = s.id
"""
