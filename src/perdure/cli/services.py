"""`perdure services`: list and describe the services registered deployments provide."""

from __future__ import annotations

from typing import Any

import click

from perdure.cli._admin import AdminClient, admin_options, path_segment
from perdure.cli._output import echo_fields, echo_json, echo_table, json_option


@click.group(name="services")
def command() -> None:
    """Inspect services: what the registered deployments provide, and their settings."""


@command.command(name="list")
@admin_options
@json_option
def list_services(admin: AdminClient, as_json: bool) -> None:
    """List the services (--json: the array of ServiceMetadata the server returns)."""
    services = admin.get("/services").get("services", [])
    if as_json:
        echo_json(services)
        return
    echo_table(
        ["name", "type", "revision", "public", "handlers", "deployment"],
        (
            [
                s.get("name"),
                s.get("ty"),
                s.get("revision"),
                s.get("public"),
                len(s.get("handlers") or []),
                s.get("deployment_id"),
            ]
            for s in sorted(services, key=lambda s: str(s.get("name")))
        ),
        empty="No services registered.",
    )


@command.command(name="describe")
@click.argument("name")
@admin_options
@json_option
def describe(name: str, admin: AdminClient, as_json: bool) -> None:
    """Show one service: type, deployment, timeouts, retention, retry policy, handlers."""
    service = admin.get(f"/services/{path_segment(name)}")
    if as_json:
        echo_json(service)
        return
    retry = service.get("retry_policy") or {}
    echo_fields(
        [
            ("Name", service.get("name")),
            ("Type", service.get("ty")),
            ("Revision", service.get("revision")),
            ("Public", service.get("public")),
            ("Deployment", service.get("deployment_id")),
            ("Documentation", service.get("documentation")),
            ("Inactivity timeout", service.get("inactivity_timeout")),
            ("Abort timeout", service.get("abort_timeout")),
            ("Idempotency retention", service.get("idempotency_retention")),
            ("Workflow retention", service.get("workflow_completion_retention")),
            ("Journal retention", service.get("journal_retention")),
            ("Retry policy", _retry_text(retry) if isinstance(retry, dict) else None),
        ]
    )
    click.echo("")
    handlers: list[dict[str, Any]] = service.get("handlers") or []
    echo_table(
        ["handler", "type", "public", "input", "output"],
        (
            [
                h.get("name"),
                h.get("ty") or "",
                h.get("public"),
                h.get("input_description"),
                h.get("output_description"),
            ]
            for h in sorted(handlers, key=lambda h: str(h.get("name")))  # restate: any order
        ),
        empty="No handlers.",
    )


def _retry_text(policy: dict[str, Any]) -> str | None:
    """E.g. `500ms, factor 2.0, up to 1m, 70 attempts, then Pause`."""
    if not policy:
        return None
    parts = [str(policy.get("initial_interval", "?"))]
    if policy.get("exponentiation_factor") is not None:
        parts[0] += f", factor {policy['exponentiation_factor']}"
    if policy.get("max_interval") is not None:
        parts[0] += f", up to {policy['max_interval']}"
    if policy.get("max_attempts") is not None:
        parts.append(f"{policy['max_attempts']} attempts")
    if policy.get("on_max_attempts") is not None:
        parts.append(f"then {policy['on_max_attempts']}")
    return ", ".join(parts)
