"""The views of perdure's own features on PostgreSQL (`sys_schedule`, `sys_limit`,
`sys_rules`, `sys_subscription`): the same columns and values as on SQLite
(`perdure.store.sqlite.feature_views`)."""

from __future__ import annotations

from collections.abc import Callable


def feature_views(ts: Callable[[str], str]) -> dict[str, str]:
    """The views' SQL, with `ts` rendering a ms column as RFC 3339 text."""
    return {
        "sys_schedule": f"""
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
    CASE WHEN s.paused THEN 1 ELSE 0 END AS paused,
    {ts("s.next_fire_at")} AS next_fire_at,
    {ts("s.last_fire_at")} AS last_fire_at,
    s.last_invocation_id AS last_invocation_id,
    i.status AS last_invocation_status,
    {ts("s.buffered_tick")} AS buffered_tick,
    s.fired AS fired,
    s.skipped AS skipped,
    {ts("s.created_at")} AS created_at,
    {ts("s.modified_at")} AS modified_at
FROM public.schedules AS s
LEFT JOIN public.invocations AS i ON i.id = s.last_invocation_id""",
        "sys_limit": """
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
    CASE WHEN r.disabled THEN 1 ELSE 0 END AS disabled,
    g.grp AS limit_group,
    (SELECT COUNT(*) FROM public.limit_slots s WHERE s.rule_id = r.id AND s.grp = g.grp)
        AS running,
    (SELECT COUNT(*) FROM public.limit_waiters w WHERE w.rule_id = r.id AND w.grp = g.grp)
        AS queued
FROM public.limit_rules AS r
LEFT JOIN (
    SELECT rule_id, grp FROM public.limit_slots
    UNION SELECT rule_id, grp FROM public.limit_waiters
) AS g ON g.rule_id = r.id""",
        "sys_rules": f"""
SELECT
    r.pattern AS pattern,
    r.concurrency AS concurrency,
    r.description AS description,
    CASE WHEN r.disabled THEN 1 ELSE 0 END AS disabled,
    r.version AS version,
    {ts("r.modified_at")} AS last_modified,
    r.modified_at AS last_modified_millis_since_epoch
FROM public.limit_rules AS r
WHERE r.pattern IS NOT NULL""",
        "sys_subscription": f"""
SELECT
    s.id AS id,
    s.source AS source,
    s.sink AS sink,
    o.partition AS partition,
    o.next_offset AS committed_offset,
    o.high_watermark AS high_watermark,
    CASE WHEN o.partition IS NULL THEN NULL
        ELSE greatest(o.high_watermark - o.next_offset, 0) END AS lag,
    {ts("s.created_at")} AS created_at
FROM public.subscriptions AS s
LEFT JOIN public.subscription_offsets AS o ON o.subscription_id = s.id""",
    }
