"""`perdure cluster status`: the nodes sharing a PostgreSQL database, their heartbeats,
and which partitions each one leases at which fencing epoch (any node's admin API)."""

from __future__ import annotations

from typing import Any

import click

from perdure.cli._admin import AdminClient, AdminError, admin_options
from perdure.cli._output import echo_json, echo_table, format_time, json_option


@click.group(name="cluster")
def command() -> None:
    """Inspect a cluster of perdure nodes on one PostgreSQL database."""


def _leases(node: dict[str, Any]) -> str:
    return " ".join(f"{lease['partition']}@{lease['epoch']}" for lease in node.get("leases", []))


@command.command(name="status")
@admin_options
@json_option
def status(admin: AdminClient, as_json: bool) -> None:
    """Nodes, their last heartbeat, and the partitions each leases (partition@epoch)."""
    response = admin.call("GET", "/cluster")
    try:
        cluster: dict[str, Any] = response.json()
    except ValueError:
        raise AdminError(f"{admin.url}: /cluster did not answer JSON") from None
    if as_json:
        echo_json(cluster)
        return
    nodes = cluster.get("nodes", [])
    unleased = cluster.get("unleased", [])
    lines = f"{cluster.get('partitions')} partitions"
    if unleased:
        lines += f", {len(unleased)} not leased: {' '.join(str(p) for p in unleased)}"
    click.echo(f"{lines} (answered by node {cluster.get('node')})")
    echo_table(
        ["node", "live", "last heartbeat", "ago", "partitions"],
        (
            [
                node.get("name"),
                "stopped" if node.get("stopped") else node.get("live"),
                format_time(node.get("heartbeat_at")),
                f"{node.get('heartbeat_age_ms', 0) / 1000:.1f}s",
                len(node.get("leases", [])),
            ]
            for node in nodes
        ),
        empty="No node has joined yet.",
    )
    # Every lease in full (a table cell would cut the list short).
    for node in nodes:
        if node.get("leases"):
            click.echo(f"{node.get('name')} leases (partition@epoch): {_leases(node)}")
