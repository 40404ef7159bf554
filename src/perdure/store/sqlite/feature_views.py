"""Introspection views of perdure's own features (no restate-server counterpart): cron
schedules. Installed with the others (`views.install_views`), readable by `POST /query`."""

from __future__ import annotations


def ts_sql(column: str) -> str:
    """A ms timestamp as RFC 3339 text, as the restate-named views render them."""
    return f"strftime('%Y-%m-%dT%H:%M:%fZ', {column} / 1000.0, 'unixepoch')"


FEATURE_VIEW_NAMES: tuple[str, ...] = ("sys_schedule",)

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
"""
