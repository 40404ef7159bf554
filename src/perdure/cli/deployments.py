"""`perdure deployments`: register, list, describe and remove deployments (admin API)."""

from __future__ import annotations

from typing import Any

import click

from perdure.cli._admin import AdminClient, admin_options, path_segment
from perdure.cli._output import echo_fields, echo_json, echo_table, format_time, json_option


@click.group(name="deployments")
def command() -> None:
    """Register and inspect deployments: HTTP endpoints that serve services."""


def _parse_headers(pairs: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="'--header'")
        headers[name.strip()] = value
    return headers


def _by_name(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # restate answers in no particular order; sorted output is stable to read and to diff.
    return sorted(items, key=lambda item: str(item.get("name")))


def _service_rows(services: list[dict[str, Any]]) -> list[list[object]]:
    return [
        [s.get("name"), s.get("ty"), s.get("revision"), _handler_count(s)]
        for s in _by_name(services)
    ]


def _handler_count(service: dict[str, Any]) -> object:
    handlers = service.get("handlers")
    return len(handlers) if isinstance(handlers, list) else None


def _echo_services(services: list[dict[str, Any]]) -> None:
    echo_table(
        ["service", "type", "revision", "handlers"],
        _service_rows(services),
        empty="No services.",
    )


@command.command(name="register")
@click.argument("uri")
@click.option(
    "--use-http-11",
    is_flag=True,
    help="Talk to the deployment over HTTP/1.1 (request-response) instead of HTTP/2.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Re-discover and overwrite a deployment already registered at URI (same id).",
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="NAME=VALUE",
    help="A header the server sends to the deployment on every request (repeatable).",
)
@admin_options
@json_option
def register(
    uri: str,
    use_http_11: bool,
    force: bool,
    headers: tuple[str, ...],
    admin: AdminClient,
    as_json: bool,
) -> None:
    """Register the deployment at URI: the server discovers its services.

    Registering the same URI (with the same headers) again changes nothing unless
    --force is given. With --json, prints the server's answer.
    """
    body: dict[str, object] = {"uri": uri, "use_http_11": use_http_11, "force": force}
    additional = _parse_headers(headers)
    if additional:
        body["additional_headers"] = additional
    response = admin.post("/deployments", body)
    result = response.json()
    if as_json:
        echo_json(result)
        return
    outcome = "Registered" if response.status_code == 201 else "Already registered (unchanged)"
    if force and response.status_code != 201:
        outcome = "Re-registered"
    click.echo(f"{outcome}: deployment {result.get('id')} at {uri}")
    services = result.get("services") or []
    if services:
        click.echo("")
        _echo_services(services)


@command.command(name="list")
@admin_options
@json_option
def list_deployments(admin: AdminClient, as_json: bool) -> None:
    """List the registered deployments (--json: the array the server returns)."""
    deployments = admin.get("/deployments").get("deployments", [])
    if as_json:
        echo_json(deployments)
        return
    echo_table(
        ["id", "uri", "protocol", "http", "services", "created"],
        (
            [
                d.get("id"),
                d.get("uri") or d.get("arn"),
                d.get("protocol_type"),
                d.get("http_version"),
                ", ".join(str(s.get("name")) for s in _by_name(d.get("services") or [])),
                format_time(d.get("created_at")),
            ]
            for d in deployments
        ),
        empty="No deployments registered.",
    )


@command.command(name="describe")
@click.argument("deployment_id", metavar="ID")
@admin_options
@json_option
def describe(deployment_id: str, admin: AdminClient, as_json: bool) -> None:
    """Show one deployment and the services it serves (ID as in `deployments list`)."""
    deployment = admin.get(f"/deployments/{path_segment(deployment_id)}")
    if as_json:
        echo_json(deployment)
        return
    headers = deployment.get("additional_headers") or {}
    echo_fields(
        [
            ("ID", deployment.get("id")),
            ("URI", deployment.get("uri") or deployment.get("arn")),
            ("Protocol", deployment.get("protocol_type")),
            ("HTTP version", deployment.get("http_version")),
            ("Service protocol", _range(deployment)),
            ("SDK", deployment.get("sdk_version")),
            ("Created", format_time(deployment.get("created_at"))),
            ("Headers", ", ".join(f"{k}: {v}" for k, v in headers.items()) or None),
        ]
    )
    click.echo("")
    _echo_services(deployment.get("services") or [])


def _range(deployment: dict[str, Any]) -> str | None:
    low = deployment.get("min_protocol_version")
    high = deployment.get("max_protocol_version")
    if low is None and high is None:
        return None
    return f"V{low}" if low == high else f"V{low}..V{high}"


@command.command(name="remove")
@click.argument("deployment_id", metavar="ID")
@click.option(
    "--force",
    is_flag=True,
    help="Remove now, even if invocations still run on it (they will fail). Required.",
)
@admin_options
@json_option
def remove(deployment_id: str, force: bool, admin: AdminClient, as_json: bool) -> None:
    """Remove a deployment and the services it serves.

    Restate (and perdure) only implement forced removal, so --force is required.
    """
    if not force:
        raise click.UsageError(
            "graceful removal is not implemented by the server; pass --force to remove "
            f"{deployment_id} now (its in-flight invocations will fail)"
        )
    admin.call("DELETE", f"/deployments/{path_segment(deployment_id)}", params={"force": "true"})
    if as_json:
        echo_json({"id": deployment_id, "removed": True})
        return
    click.echo(f"Removed deployment {deployment_id}")
