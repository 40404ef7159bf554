"""`perdure subscriptions`: Kafka subscriptions (restate's `/subscriptions` admin API), and
per partition how far each got (`sys_subscription`)."""

from __future__ import annotations

import click

from perdure.cli._admin import AdminClient, admin_options, path_segment
from perdure.cli._output import echo_json, echo_table, json_option


@click.group(name="subscriptions")
def command() -> None:
    """Kafka subscriptions: list (with the lag per partition), create, delete."""


@command.command(name="list")
@admin_options
@json_option
def list_subscriptions(admin: AdminClient, as_json: bool) -> None:
    """List subscriptions, one line per partition, with the committed offset and the lag."""
    rows = admin.query(
        "SELECT id, source, sink, partition, committed_offset, high_watermark, lag "
        "FROM sys_subscription ORDER BY id, partition"
    )
    if as_json:
        echo_json(rows)
        return
    columns = ["id", "source", "sink", "partition", "committed_offset", "high_watermark", "lag"]
    echo_table(columns, ([r.get(c, "") for c in columns] for r in rows), empty="No subscriptions.")


@command.command(name="create")
@click.argument("source", metavar="kafka://CLUSTER/TOPIC")
@click.argument("sink", metavar="service://SERVICE/HANDLER")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="Consumer option.")
@admin_options
@json_option
def create(
    source: str, sink: str, options: tuple[str, ...], admin: AdminClient, as_json: bool
) -> None:
    """Create a subscription: every record of SOURCE invokes SINK once."""
    parsed = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            raise click.BadParameter(f"{option!r} is not KEY=VALUE", param_hint="--option")
        parsed[key] = value
    body = {"source": source, "sink": sink, "options": parsed}
    created = admin.post("/subscriptions", body).json()
    if as_json:
        echo_json(created)
    else:
        click.echo(f"Created subscription {created['id']}.")


@command.command(name="delete")
@click.argument("subscription_id", metavar="ID")
@admin_options
def delete(subscription_id: str, admin: AdminClient) -> None:
    """Delete a subscription (its consumer stops within a second)."""
    admin.call("DELETE", f"/subscriptions/{path_segment(subscription_id)}")
    click.echo(f"Deleted subscription {subscription_id}.")
